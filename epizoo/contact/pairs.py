"""Scoring enhancer-promoter pairs with a contact-map model (``task="contact-map"``, e.g. ChromNet).

A contact-map model predicts a window's contact map, not a pair's label. A pair's score here is its
*predicted contact*: the model's map value (log(1 + contacts), the scale it is trained on, see
:func:`epizoo.contact.windows.map_target`) at the bin of the enhancer's centre and the bin of the
promoter's centre (its TSS for the usual TSS-centred promoter intervals), at the model's output
resolution (window bp / output bins), averaged over every model window that holds both centres.
Windows start every ``step`` bp along the contig (the training step, else an eighth of a window);
each needed window runs once, in batches, with the inputs built as in training
(:class:`epizoo.contact.windows.ContactWindows`).

A pair gets NaN, and is counted by reason, when its two centres are a window or more apart, on two
contigs, on a contig the genome layer lacks, or in no window of the grid (a span that leaves less
than a step of slack in a window, a contig end, a contig shorter than a window). The score ranks pairs; it is not a probability.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from epizoo.contact.windows import ContactWindows, Window, as_genome, track_marks, window_starts
from epizoo.errors import EpizooError
from epizoo.model_inputs import contact_maps
from epizoo.store.io import open_store, require_pairs
from epizoo.zoo import ModelSpec

BATCH = 8  # windows per forward pass
SCORE_NOTE = "score: the predicted log(1 + contact) at the pair's bins (ranks pairs; not a probability); NaN: no score"
REASONS = {
    "too_far": "farther apart than a window",
    "across_contigs": "on two contigs",
    "contig_missing": "on a contig the genome layer lacks",
    "no_window": "in no window of the step grid (a span within a step of a window, or a contig end)",
}


@dataclass
class ContactPairScores:
    scores: np.ndarray  # per pair, NaN where unscored
    unscored: Counter = field(default_factory=Counter)  # reason (a key of REASONS) -> pairs
    windows: int = 0  # windows the model ran
    window_length: int = 0
    step: int = 0

    def note(self) -> str:
        """One line on the pairs left unscored, or '' when every pair has a score."""
        if not self.unscored:
            return ""
        parts = ", ".join(f"{n} {REASONS[reason]}" for reason, n in sorted(self.unscored.items()))
        return f"{sum(self.unscored.values())} pairs have no score (NaN): {parts}"


def window_geometry(model: Any, spec: ModelSpec, description: dict[str, Any], step: int | None = None) -> tuple[int, int, int]:
    """(window bp, output bins, step bp) of a contact-map checkpoint's model."""
    hparams = {**spec.hparams(), **(description.get("hparams") or {})}
    window = int(getattr(model, "window_length", None) or hparams["window_length"])
    n_bins = int(getattr(model, "n_bins", None) or hparams["n_bins"])
    trained_step = (description.get("contact_training") or {}).get("step")
    step = int(step or trained_step or max(1, window // 8))
    if step < 1:
        raise EpizooError(f"step {step}: give a positive number of bp between windows")
    return window, n_bins, step


def pair_anchors(ds: Any, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: the contig and centre of its enhancer and of its promoter, and its cell line."""
    contigs = np.asarray(ds["contig_id"].values, dtype=object)
    out = {"cell_line": np.asarray(ds["cell_line_id"].values, dtype=object)[ds["pair_cell_line"].values[pairs]]}
    for kind in ("enhancer", "promoter"):
        element = ds[f"pair_{kind}"].values[pairs]
        out[f"{kind}_contig"] = contigs[ds[f"{kind}_contig"].values[element]]
        start, end = (ds[f"{kind}_{edge}"].values[element].astype(np.int64) for edge in ("start", "end"))
        out[kind] = (start + end) // 2
    return out


def track_cells(genome: Any, spec: ModelSpec, wanted: np.ndarray, cell_line: str | None) -> dict[str, str]:
    """For each pair cell line, the cell line whose tracks are read: its own when the genome layer has
    every track the model reads, else ``cell_line``."""
    have = {str(cell) for cell, _ in genome.track_names()}
    complete = {c for c in have if has_tracks(genome, spec, c)}
    if cell_line is not None:
        track_marks(genome, spec.tracks, [cell_line])  # one line when it lacks a track the model reads
    chosen = {}
    for cell in sorted({str(c) for c in wanted}):
        if cell in complete:
            chosen[cell] = cell
        elif cell_line is not None:
            chosen[cell] = cell_line
        else:
            raise EpizooError(
                f"the genome layer has no {'/'.join(spec.tracks)} tracks of pair cell line {cell} (it has tracks of "
                f"{', '.join(sorted(complete)) or 'none'}); name the cell line whose tracks to read (--tracks-of)"
            )
    return chosen


def has_tracks(genome: Any, spec: ModelSpec, cell: str) -> bool:
    """Whether the genome layer has every track ``spec`` reads for cell line ``cell``."""
    try:
        track_marks(genome, spec.tracks, [cell])
    except EpizooError:
        return False
    return True


def covering_starts(first: int, last: int, length: int, window: int, step: int) -> np.ndarray:
    """Starts (multiples of ``step``) of the whole windows of a ``length`` bp contig that hold
    positions ``first`` <= ``last``."""
    starts = window_starts(length, window, step)
    if not len(starts):
        return np.empty(0, np.int64)
    lo = max(0, -(-(last - window + 1) // step))
    hi = min(first // step, (starts[-1]) // step)
    return np.arange(lo, hi + 1, dtype=np.int64) * step


def contact_pair_result(model: Any, spec: ModelSpec, description: dict[str, Any], ds: Any, pairs: np.ndarray,
                        cell_line: str | None = None, step: int | None = None, device: Any = "cpu") -> ContactPairScores:
    """Scores of ``pairs`` of ``ds`` with the unscored pairs counted by reason (see the module)."""
    genome = as_genome(ds)
    try:
        lengths = {str(name): int(n) for name, n in genome.genome_contigs().items()}
    except EpizooError as exc:
        raise type(exc)(f"{exc}; a contact-map model scores pairs from the genome layer") from None
    window, n_bins, step = window_geometry(model, spec, description, step)
    pairs = np.asarray(pairs, dtype=np.int64)
    anchors = pair_anchors(ds, pairs)
    cells = track_cells(genome, spec, anchors["cell_line"], cell_line)
    result = ContactPairScores(np.full(pairs.size, np.nan), Counter(), 0, window, step)
    wanted: dict[Window, list[tuple[int, int, int]]] = {}  # window -> (pair row, enhancer bin, promoter bin)
    resolution = window / n_bins
    for row in range(pairs.size):
        contig, other = str(anchors["enhancer_contig"][row]), str(anchors["promoter_contig"][row])
        a, b = int(anchors["enhancer"][row]), int(anchors["promoter"][row])
        reason = ("across_contigs" if contig != other else "contig_missing" if contig not in lengths
                  else "too_far" if abs(a - b) >= window else None)
        starts = covering_starts(min(a, b), max(a, b), lengths[contig], window, step) if reason is None else ()
        if reason is None and not len(starts):
            reason = "no_window"
        if reason:
            result.unscored[reason] += 1
            continue
        for start in starts:
            bins = (min(int((a - start) / resolution), n_bins - 1), min(int((b - start) / resolution), n_bins - 1))
            wanted.setdefault(Window(cells[str(anchors["cell_line"][row])], contig, int(start)), []).append((row, *bins))
    totals, counts = np.zeros(pairs.size), np.zeros(pairs.size)
    for win, predicted in _run_windows(model, spec, genome, list(wanted), window, n_bins, device):
        for row, i, j in wanted[win]:
            totals[row] += predicted[i, j]
            counts[row] += 1
    scored = counts > 0
    result.scores[scored] = totals[scored] / counts[scored]
    result.windows = len(wanted)
    return result


def _run_windows(model: Any, spec: ModelSpec, genome: Any, windows: list, window: int, n_bins: int, device: Any):
    """(window, predicted map) of each window, run in batches under no_grad with training's inputs."""
    import torch

    marks = track_marks(genome, spec.tracks, sorted({w.cell for w in windows}))
    data = ContactWindows(genome, windows, marks, window, n_bins, labels={}, map_cells=set())
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        for first in range(0, len(windows), BATCH):
            batch = torch.stack([data[k][0] for k in range(first, min(first + BATCH, len(windows)))]).to(device)
            maps, _ = contact_maps(model, batch)
            for offset, predicted in enumerate(maps.float().cpu().numpy()):
                yield windows[first + offset], predicted


def predict_contact_pairs(model: Any, spec: ModelSpec, description: dict[str, Any], store: Any, pairs: np.ndarray,
                          cell_line: str | None = None, device: Any = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(pairs, labels, scores, note on the unscored) of ``store``'s ``pairs`` in pair order, as
    :func:`epizoo.inference.predict_pairs` gives them for a pair model."""
    ds = open_store(store) if not hasattr(store, "epizoo") else store
    require_pairs(ds, store if isinstance(store, (str, os.PathLike)) else "the store")
    pairs = np.sort(np.asarray(pairs, dtype=np.int64))
    result = contact_pair_result(model, spec, description, ds, pairs, cell_line, device=device)
    return pairs, ds["pair_label"].values[pairs].astype(np.float32), result.scores, result.note()


def contact_pair_scores(model: Any, spec: ModelSpec, description: dict[str, Any], ds: Any, pairs: np.ndarray,
                        cell_line: str | None = None, step: int | None = None) -> np.ndarray:
    """The predicted contact (log scale) of each pair, NaN where unscored; see :func:`contact_pair_result`."""
    return contact_pair_result(model, spec, description, ds, pairs, cell_line, step).scores
