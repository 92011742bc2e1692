"""Signal features computed from bigWig tracks (``--signals tracks.yaml``), with pyBigWig.

For every pair and mark: the mean signal per bp over the enhancer, the promoter and the window
between them, as TargetFinder defines its features (summed signal / region length; bases a bigWig
does not cover count as 0, as peaks absent from a peak file do upstream). Elements are shared by
many pairs, so each element's value is read once; windows are read per pair. An empty window
(overlapping or touching elements) is 0; a pair across contigs has no window (NaN), so models of
signals leave it out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from epizoo import contigs
from epizoo.errors import InputFileError
from epizoo.signals import REGIONS, Signals, _sha256
from epizoo.tracks import read_tracks_yaml


def _marks_of(tracks: dict[str, dict[str, Path]], path: Path) -> tuple[str, ...]:
    """The marks every cell line has; one line naming the first cell line that lacks one."""
    marks = tuple(dict.fromkeys(mark for cell_marks in tracks.values() for mark in cell_marks))
    for cell, cell_marks in tracks.items():
        lacking = [mark for mark in marks if mark not in cell_marks]
        if lacking:
            raise InputFileError(f"{path}: mark {lacking[0]} missing for cell line {cell}; give every cell line the same marks")
    return marks


def _open(path: Path):
    from epizoo.extras import require

    pyBigWig = require("pyBigWig", "signals", needed_for="bigWig tracks")
    try:
        handle = pyBigWig.open(str(path))
    except RuntimeError:
        handle = None
    if handle is None or not handle.isBigWig():
        raise InputFileError(f"{path}: not a bigWig file")
    return handle


def _check_has_values(handle, path: Path, needed: set[str]) -> None:
    """Refuse a track with no value on the pairs' contigs (empty, or NaN only: pyBigWig's sums would
    read NaN as 0, and its header() crashes on such a file, so the zoom-level maximum is asked)."""
    for contig in needed:
        maximum = handle.stats(contig, type="max")[0]
        if maximum is not None and maximum == maximum:
            return
    raise InputFileError(f"{path}: the track holds no values on the pairs' contigs (all NaN or empty); give a track with signal")


def _check_contigs(handle, path: Path, needed: set[str]) -> None:
    present = handle.chroms()
    missing = sorted(c for c in needed if c not in present)
    if not missing:
        return
    other = contigs.find(missing[0], list(present))
    if other is not None:
        raise InputFileError(
            f"{path}: the track names contigs like {list(present)[other]!r} but the pairs use {missing[0]!r}; "
            "rename the track's chromosomes (e.g. with bigWigToBedGraph and sed) or the pairs' to one style"
        )
    raise InputFileError(f"{path}: the track lacks contig(s) {', '.join(missing[:5])} of the pairs; it has {', '.join(list(present)[:8])}")


def _mean(handle, contig: str, start: int, end: int) -> float:
    """Summed signal over [start, end) / length; 0 for an empty interval; uncovered bases count 0."""
    if end <= start:
        return 0.0
    end = min(end, handle.chroms(contig))
    if end <= start:
        return 0.0
    value = handle.stats(contig, int(start), int(end), type="sum", exact=True)[0]
    return (value or 0.0) / (end - start)


def _gap(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The bases between the two elements of each pair (start, end; end <= start when none)."""
    e_start, e_end = pairs["enhancer_start"].to_numpy(), pairs["enhancer_end"].to_numpy()
    p_start, p_end = pairs["promoter_start"].to_numpy(), pairs["promoter_end"].to_numpy()
    start = np.where(e_end <= p_start, e_end, p_end)
    end = np.where(e_end <= p_start, p_start, e_start)
    return start, end


def _element_means(handle, pairs: pd.DataFrame, kind: str) -> np.ndarray:
    keys = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
    distinct = pairs[keys].drop_duplicates()
    means = {tuple(row): _mean(handle, *row) for row in distinct.itertuples(index=False, name=None)}
    return np.array([means[tuple(row)] for row in pairs[keys].itertuples(index=False, name=None)], dtype=np.float64)


def track_signals(pairs: pd.DataFrame, path: str | Path) -> Signals:
    """Signal features of ``pairs`` from the bigWigs a tracks YAML names per cell line and mark."""
    path = Path(path)
    tracks = read_tracks_yaml(path)
    marks = _marks_of(tracks, path)
    values = np.full((len(pairs), len(marks), len(REGIONS)), np.nan, dtype=np.float32)
    cell = pairs["cell_line"].to_numpy()
    missing = {}
    files = []
    for cell_line in sorted(set(cell)):
        rows = np.flatnonzero(cell == cell_line)
        if cell_line not in tracks:
            missing[f"no tracks for cell line {cell_line}"] = len(rows)
            continue
        subset = pairs.iloc[rows]
        needed = set(subset["enhancer_contig"]) | set(subset["promoter_contig"])
        gap_start, gap_end = _gap(subset)
        cis = (subset["enhancer_contig"] == subset["promoter_contig"]).to_numpy()
        for m, mark in enumerate(marks):
            files.append(tracks[cell_line][mark])
            handle = _open(tracks[cell_line][mark])
            try:
                _check_contigs(handle, tracks[cell_line][mark], needed)
                _check_has_values(handle, tracks[cell_line][mark], needed)
                values[rows, m, 0] = _element_means(handle, subset, "enhancer")
                values[rows, m, 1] = _element_means(handle, subset, "promoter")
                contig = subset["enhancer_contig"].to_numpy()
                window = [_mean(handle, c, s, e) if ok else np.nan for c, s, e, ok in zip(contig, gap_start, gap_end, cis)]
                values[rows, m, 2] = window
            finally:
                handle.close()
    if not files:
        raise InputFileError(f"{path}: names none of the pairs' cell lines ({', '.join(sorted(set(cell)))})")
    return Signals(values, marks, f"tracks: {path.name}", _sha256(files), missing)
