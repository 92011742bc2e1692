"""Distance-matched negatives for positives-only tables (loops, eQTL links) or to fix a ratio.

Per cell line, candidates are every same-contig pairing of the enhancers and promoters already in
the table that is not a known pair. As TargetFinder does, positives' distances are cut into
quantile bins and negatives are drawn inside each bin (within the positives' distance range), here
in proportion to the positives in the bin, until negatives reach ``ratio`` x positives.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from epizoo import coords
from epizoo.errors import EpizooError

N_BINS = 5
ENHANCER = ["enhancer_contig", "enhancer_start", "enhancer_end"]
PROMOTER = ["promoter_contig", "promoter_start", "promoter_end"]


def _distance(table: pd.DataFrame) -> np.ndarray:
    enhancer = coords.centre(table["enhancer_start"].to_numpy(), table["enhancer_end"].to_numpy())
    promoter = coords.centre(table["promoter_start"].to_numpy(), table["promoter_end"].to_numpy())
    return np.abs(enhancer - promoter)


def _elements(rows: pd.DataFrame, kind: str, available) -> pd.DataFrame:
    """Distinct elements of one kind with the attributes a generated pair inherits from them."""
    keep = {"enhancer": [*ENHANCER, "enhancer_name", "cv_group", "source"],
            "promoter": [*PROMOTER, "promoter_name", "promoter_strand"]}[kind]
    columns = ENHANCER if kind == "enhancer" else PROMOTER
    elements = rows.sort_values("label", ascending=False, kind="stable").drop_duplicates(columns)[keep]
    if available is not None:
        ok = [bool(available(kind, c, int(s), int(e))) for c, s, e in elements[columns].itertuples(index=False)]
        elements = elements[np.array(ok, dtype=bool)] if len(ok) else elements
    return elements.rename(columns={"enhancer_contig": "contig", "promoter_contig": "contig"})


def _candidates(rows: pd.DataFrame, known: set, available, low: int, high: int) -> pd.DataFrame:
    """Same-contig enhancer x promoter pairings not in ``known``, with low <= distance <= high."""
    enhancers, promoters = _elements(rows, "enhancer", available), _elements(rows, "promoter", available)
    frames = []
    for contig, group in enhancers.groupby("contig", sort=False):
        pairs = group.merge(promoters[promoters["contig"] == contig], on="contig")
        pairs = pairs.rename(columns={"contig": "enhancer_contig"}).assign(promoter_contig=contig)
        distance = _distance(pairs)
        frames.append(pairs[(distance >= low) & (distance <= high)].assign(distance=distance[(distance >= low) & (distance <= high)]))
    if not frames:
        return pd.DataFrame()
    candidates = pd.concat(frames, ignore_index=True)
    keys = list(zip(*(candidates[c] for c in [*ENHANCER, *PROMOTER])))
    return candidates[[key not in known for key in keys]]


def _draw(rng, positives_distance: np.ndarray, candidates: pd.DataFrame, wanted: int) -> tuple[pd.DataFrame, int]:
    """``wanted`` candidates spread over quantile bins of the positives' distances."""
    edges = np.unique(np.quantile(positives_distance, np.linspace(0, 1, N_BINS + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]])
    bins = np.clip(np.searchsorted(edges, positives_distance, side="right") - 1, 0, len(edges) - 2)
    quota = np.floor(np.bincount(bins, minlength=len(edges) - 1) / len(bins) * wanted).astype(int)
    quota[: wanted - quota.sum()] += 1  # the rounding remainder goes to the first bins
    candidate_bins = np.clip(np.searchsorted(edges, candidates["distance"].to_numpy(), side="right") - 1, 0, len(edges) - 2)
    chosen, shortfall = [], 0
    for b, n in enumerate(quota):
        pool = np.flatnonzero(candidate_bins == b)
        take = min(n, len(pool))
        shortfall += n - take
        chosen.append(rng.choice(pool, size=take, replace=False))
    return candidates.iloc[np.sort(np.concatenate(chosen))], int(shortfall)


def _usable(rows: pd.DataFrame, available: Callable[[str, str, int, int], bool] | None) -> np.ndarray:
    """Rows whose enhancer and promoter both have sequence (all rows when nothing is known)."""
    if available is None:
        return np.ones(len(rows), dtype=bool)
    keep = np.ones(len(rows), dtype=bool)
    for kind in ("enhancer", "promoter"):
        cols = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
        known = {key: available(kind, *key) for key in set(zip(*(rows[c] for c in cols)))}
        keep &= np.fromiter((known[key] for key in zip(*(rows[c] for c in cols))), dtype=bool, count=len(rows))
    return keep


def add_negatives(
    pairs: pd.DataFrame,
    ratio: int,
    seed: int = 0,
    available: Callable[[str, str, int, int], bool] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Top up each cell line's negatives to about ``ratio`` x positives; returns (table, report).

    ``pairs`` is a normalised pair table. Generated rows have ``label_generated=True``, take the
    source and cv-group of their enhancer, and never repeat a known pair or a positive of any cell
    line. ``available(kind, contig, start, end)`` can exclude elements without sequence.
    """
    if int(ratio) < 1:
        raise EpizooError(f"--negatives must be a positive number of negatives per positive, not {ratio}")
    rng = np.random.default_rng(seed)
    positives_anywhere = set(zip(*(pairs.loc[pairs["label"] == 1, c] for c in [*ENHANCER, *PROMOTER])))
    report = {"generated": 0, "shortfall": 0, "cell_lines_without_positives": 0}
    generated = []
    for cell, rows in pairs.groupby("cell_line", sort=False):
        # Pairs whose sequence is unavailable will be dropped by the build, so they do not count.
        usable = rows[_usable(rows, available)]
        positives = usable[(usable["label"] == 1) & (usable["enhancer_contig"] == usable["promoter_contig"])]
        wanted = int(ratio) * int((usable["label"] == 1).sum()) - int((usable["label"] == 0).sum())
        if positives.empty:
            report["cell_lines_without_positives"] += 1
            continue
        if wanted <= 0:
            continue
        distance = _distance(positives)
        known = positives_anywhere | set(zip(*(rows[c] for c in [*ENHANCER, *PROMOTER])))
        candidates = _candidates(rows, known, available, int(distance.min()), int(distance.max()))
        if candidates.empty:
            report["shortfall"] += wanted
            continue
        drawn, shortfall = _draw(rng, distance, candidates, wanted)
        generated.append(drawn.drop(columns="distance").assign(cell_line=cell, label=0, label_generated=True))
        report["generated"] += len(drawn)
        report["shortfall"] += int(shortfall)
    if not generated:
        return pairs.reset_index(drop=True), report
    table = pd.concat([pairs, *generated], ignore_index=True)[list(pairs.columns)]
    return table.astype(pairs.dtypes.to_dict()), report
