"""Which pairs to explain: a store's pairs (all, or one side of a bench run's fold) that the model
predicts positive with a probability above a threshold, capped deterministically; and their windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from epizoo import coords
from epizoo.errors import EmptyResultError, EpizooError
from epizoo.store.integrity import verify_before_reading_all
from epizoo.zoo import ModelSpec

SIDES = ("all", "test", "train", "valid")


@dataclass
class Chosen:
    """The explained pairs (store order) with labels, probabilities, window codes and placements."""

    pairs: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    codes: dict[str, np.ndarray]  # kind -> (pairs, model window) int8
    elements: dict[str, np.ndarray]  # kind -> element row of each pair
    contigs: dict[str, np.ndarray]  # kind -> contig name of each pair's element
    starts: dict[str, np.ndarray]  # kind -> genomic start of the model window
    candidates: int  # pairs scored
    above: int  # of which above the threshold


def fold_side_pairs(checkpoint: str | Path, store: str, side: str) -> np.ndarray:
    """One side (test, train or valid) of the checkpoint's fold, as the bench recorded it
    (:func:`epizoo.inference.fold_sides`); ``train`` without the validation pairs."""
    from epizoo.inference import fold_sides  # lazy: imports torch and scikit-learn

    sides = fold_sides(checkpoint, store)
    if side == "train":
        return np.setdiff1d(sides["train"], sides["valid"])
    return sides[side]


def _cap(pairs: np.ndarray, max_pairs: int) -> np.ndarray:
    """At most ``max_pairs``, evenly spaced in store order (so spread over contigs), no seed needed."""
    if pairs.size <= max_pairs:
        return pairs
    return pairs[np.unique(np.linspace(0, pairs.size - 1, max_pairs).round().astype(np.int64))]


def read_windows(store: str, pairs: np.ndarray, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """The model windows (int8 codes) of ``pairs`` (sorted), as the bench's loader cuts them."""
    from epizoo.training.loader import PairBatches, plain_items  # lazy: imports torch

    dataset = PairBatches(store, plain_items(pairs), 256, lengths["enhancer"], lengths["promoter"], in_memory=False)
    batches = list(dataset)
    order = np.argsort(np.concatenate([b["pair"].numpy() for b in batches]), kind="stable")
    return {kind: np.concatenate([b[kind].numpy() for b in batches])[order] for kind in ("enhancer", "promoter")}


def placements(ds: Any, pairs: np.ndarray, lengths: dict[str, int]) -> tuple[dict, dict, dict]:
    """Per kind: element rows, contig names and genomic starts of the model windows of ``pairs``."""
    contig_names = np.asarray(ds["contig_id"].values, dtype=object)
    flank = int(ds.attrs["flank"])
    rows, contigs, starts = {}, {}, {}
    for kind, length in lengths.items():
        rows[kind] = np.asarray(ds[f"pair_{kind}"].values)[pairs].astype(np.int64)
        contigs[kind] = contig_names[np.asarray(ds[f"{kind}_contig"].values)[rows[kind]]]
        offset = coords.cut_offset(int(ds.attrs[f"{kind}_window"]), flank, length)
        starts[kind] = np.asarray(ds[f"{kind}_window_start"].values)[rows[kind]].astype(np.int64) + offset
    return rows, contigs, starts


def choose_pairs(model: Any, spec: ModelSpec, description: dict[str, Any], store: str, lengths: dict[str, int], *,
                 checkpoint: str | Path, side: str, min_probability: float, max_pairs: int, device: str,
                 batch_size: int) -> Chosen:
    """Score the candidate pairs and keep those above ``min_probability`` (at most ``max_pairs``)."""
    from epizoo.inference import predict_pairs  # lazy: imports torch and scikit-learn
    from epizoo.store.io import open_store, require_pairs  # lazy: imports xarray

    if side not in SIDES:
        raise EpizooError(f"--side {side!r}: use one of {', '.join(SIDES)}")
    ds = open_store(store)
    require_pairs(ds, store)
    verify_before_reading_all(store)
    candidates = np.arange(ds.sizes["pairs"], dtype=np.int64) if side == "all" else fold_side_pairs(checkpoint, store, side)
    where = f"the {side} side of fold {(description.get('fold') or {}).get('name', '?')}" if side != "all" else store
    if candidates.size == 0:
        raise EmptyResultError(f"{where} has no pairs to explain")
    pairs, labels, scores = predict_pairs(model, spec, description, store, candidates, device, batch_size)
    above = np.flatnonzero(scores > min_probability)
    if above.size == 0:
        raise EmptyResultError(
            f"no pair of {where} is predicted positive with probability > {min_probability:g} (the highest is "
            f"{scores.max():.3f} of {scores.size} pairs); lower --min-probability"
        )
    keep = _cap(above, max_pairs)
    chosen = pairs[keep]
    rows, contigs, starts = placements(ds, chosen, lengths)
    return Chosen(chosen, labels[keep], scores[keep], read_windows(store, chosen, lengths), rows, contigs, starts,
                  int(pairs.size), int(above.size))
