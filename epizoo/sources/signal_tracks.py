"""Signal features computed from bigWig tracks (``--signals tracks.yaml``), with pyBigWig.

For every pair and mark: the mean signal per bp over the enhancer, the promoter and the window
between them, as TargetFinder defines its features (summed signal / region length; bases a bigWig
does not cover count as 0, as peaks absent from a peak file do upstream). Elements are shared by
many pairs, so each element's value is read once; windows are read per pair. An empty window
(overlapping or touching elements) is 0; a pair across contigs has no window (NaN), so models of
signals leave it out.

NaN in a track means "not measured" and counts as an uncovered base (0); an infinite value is refused.
Every element must lie within its contig as the track gives it, and with a genome the track's
contig lengths must be the genome's (the same assembly), unless ``allow_assembly_mismatch``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo import contigs
from epizoo.errors import InputFileError
from epizoo.sources.signal_values import REGIONS, Signals, _sha256
from epizoo.sources.tracks import ASSEMBLY_FLAG, _check_lengths, infinite_value_line, open_bigwig, read_tracks_yaml, track_extremes


def _marks_of(tracks: dict[str, dict[str, Path]], path: Path) -> tuple[str, ...]:
    """The marks every cell line has; one line naming the first cell line that lacks one."""
    marks = tuple(dict.fromkeys(mark for cell_marks in tracks.values() for mark in cell_marks))
    for cell, cell_marks in tracks.items():
        lacking = [mark for mark in marks if mark not in cell_marks]
        if lacking:
            raise InputFileError(f"{path}: mark {lacking[0]} missing for cell line {cell}; give every cell line the same marks")
    return marks


def _check_values(handle, path: Path, needed: set[str]) -> None:
    """Refuse a track with no value on the pairs' contigs (empty, or NaN only) or with an infinite
    one, from the zoom levels' extremes (pyBigWig's header() crashes on such a file)."""
    measured = False
    for contig in sorted(needed):
        low, high = track_extremes(handle, contig)
        for value in (low, high):
            if value is not None and math.isinf(value):
                raise InputFileError(infinite_value_line(str(path), contig, value))
        measured = measured or high is not None
    if not measured:
        raise InputFileError(f"{path}: the track holds no values on the pairs' contigs (all NaN or empty); give a track with signal")


def _check_extent(handle, path: Path, pairs: pd.DataFrame, genome, allow_mismatch: bool) -> None:
    """Every element within its contig as the track gives it, and the track's contigs as long as the
    genome's (when one is given): else the track is of another assembly. One line for the first
    that is not; with ``allow_mismatch`` a contig's length may differ and bases past the track's end
    count as uncovered."""
    chroms = handle.chroms()
    if genome is not None and getattr(genome, "strict", False):
        needed = set(pairs["enhancer_contig"]) | set(pairs["promoter_contig"])
        lengths = {c: genome.contig_length(c) for c in sorted(needed)}
        _check_lengths(str(path), chroms, genome.name, {c: n for c, n in lengths.items() if n is not None}, allow_mismatch)
    if allow_mismatch:
        return
    for kind in ("enhancer", "promoter"):
        ends = pairs[f"{kind}_end"].to_numpy()
        beyond = np.flatnonzero(ends > pairs[f"{kind}_contig"].map(chroms).to_numpy())
        if beyond.size:
            row = pairs.iloc[int(beyond[0])]
            contig = row[f"{kind}_contig"]
            raise InputFileError(
                f"{path}: the {kind} {contig}:{row[f'{kind}_start']}-{row[f'{kind}_end']} of a pair runs past the end of "
                f"{contig} in the track ({chroms[contig]:,} bp); tracks and pairs must be the same assembly: give the track "
                f"of the pairs' genome build, or pass {ASSEMBLY_FLAG} to count the bases past its end as uncovered"
            )


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


def _mean(handle, contig: str, start: int, end: int, path: Path) -> float:
    """Summed signal over [start, end) / length; 0 for an empty interval; uncovered bases count 0."""
    if end <= start:
        return 0.0
    end = min(end, handle.chroms(contig))
    if end <= start:
        return 0.0
    value = handle.stats(contig, int(start), int(end), type="sum", exact=True)[0]
    if value is None or not math.isfinite(value):  # no entry, or a NaN (or inf) among them: pyBigWig's sum gives up
        value = _covered_sum(handle, contig, int(start), int(end), path)
    return value / (end - start)


def _covered_sum(handle, contig: str, start: int, end: int, path: Path) -> float:
    """The sum over [start, end) entry by entry: NaN counts as uncovered (0), an infinite value is refused."""
    total = 0.0
    for lo, hi, value in handle.intervals(contig, start, end) or ():
        if value != value:
            continue
        if math.isinf(value):
            raise InputFileError(infinite_value_line(str(path), f"{contig} (at {contig}:{lo:,}-{hi:,})", value))
        total += (min(hi, end) - max(lo, start)) * value
    return total


def _gap(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The bases between the two elements of each pair (start, end; end <= start when none)."""
    e_start, e_end = pairs["enhancer_start"].to_numpy(), pairs["enhancer_end"].to_numpy()
    p_start, p_end = pairs["promoter_start"].to_numpy(), pairs["promoter_end"].to_numpy()
    start = np.where(e_end <= p_start, e_end, p_end)
    end = np.where(e_end <= p_start, p_start, e_start)
    return start, end


def _element_means(handle, pairs: pd.DataFrame, kind: str, path: Path) -> np.ndarray:
    keys = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
    distinct = pairs[keys].drop_duplicates()
    means = {tuple(row): _mean(handle, *row, path) for row in distinct.itertuples(index=False, name=None)}
    return np.array([means[tuple(row)] for row in pairs[keys].itertuples(index=False, name=None)], dtype=np.float64)


def track_signals(pairs: pd.DataFrame, path: str | Path, genome=None, allow_assembly_mismatch: bool = False) -> Signals:
    """Signal features of ``pairs`` from the bigWigs a tracks YAML names per cell line and mark.

    ``genome``: the whole-genome source of the pairs' sequence, if any, whose contig lengths the
    tracks must give too.
    """
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
            track = tracks[cell_line][mark]
            handle = open_bigwig(track)
            try:
                _check_contigs(handle, track, needed)
                _check_extent(handle, track, subset, genome, allow_assembly_mismatch)
                _check_values(handle, track, needed)
                values[rows, m, 0] = _element_means(handle, subset, "enhancer", track)
                values[rows, m, 1] = _element_means(handle, subset, "promoter", track)
                contig = subset["enhancer_contig"].to_numpy()
                window = [_mean(handle, c, s, e, track) if ok else np.nan for c, s, e, ok in zip(contig, gap_start, gap_end, cis)]
                values[rows, m, 2] = window
            finally:
                handle.close()
    if not files:
        raise InputFileError(f"{path}: names none of the pairs' cell lines ({', '.join(sorted(set(cell)))})")
    return Signals(values, marks, f"tracks: {path.name}", _sha256(files), missing)
