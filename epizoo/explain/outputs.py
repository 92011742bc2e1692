"""What ``epizoo explain`` writes: bedGraph and bigWig tracks, the cluster table, logos, one pair's plot, a summary.

Everything goes into a temporary folder beside ``-o`` that is renamed into place at the end, so an
interrupted or failed run leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from epizoo.errors import InputFileError
from epizoo.extras import require
from epizoo.jsontext import dumps
from epizoo.output_folder import check_replaceable, write_marker

TRACK_DIGITS = 6
KIND = "explain"  # the marker of an explain folder: --force replaces only one of these


def check_out(out: Path, force: bool, inputs: Iterable = ()) -> None:
    """Refuse an ``-o`` that exists without ``--force``, that is not an earlier explain output, or
    that is (or holds) one of the ``inputs`` (the store, the checkpoint, the run)."""
    check_replaceable(out, force, KIND, inputs=inputs, error=InputFileError)


@contextlib.contextmanager
def staged_folder(out: Path, force: bool, inputs: Iterable = ()) -> Iterator[Path]:
    """A scratch folder beside ``out``, marked as explain's, renamed to ``out`` when the block ends
    without an error."""
    check_out(out, force, inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        write_marker(scratch, KIND)
    except OSError as exc:
        raise InputFileError(f"cannot write -o {out} ({exc.strerror or exc}); choose a writable path") from None
    try:
        yield scratch
        check_out(out, force, inputs)  # the slow work is over: is ``out`` still ours to replace?
        if out.exists():
            shutil.rmtree(out)
        scratch.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def merged_intervals(contigs: np.ndarray, starts: np.ndarray, tracks: list[np.ndarray]) -> list[tuple[str, int, int, float]]:
    """Many elements' per-base tracks as ``(contig, start, end, value)`` intervals, contigs sorted by
    name: bases shared by several (an element explained with several partners, overlapping windows)
    get the mean; equal neighbours merge into one interval. The value is the one bedGraph text shows."""
    intervals = []
    for contig in sorted(set(map(str, contigs))):
        mine = np.flatnonzero(contigs == contig)
        positions = np.concatenate([starts[i] + np.arange(len(tracks[i])) for i in mine])
        values = np.concatenate([tracks[i] for i in mine])
        unique, inverse = np.unique(positions, return_inverse=True)
        mean = np.round(np.bincount(inverse, values) / np.bincount(inverse), TRACK_DIGITS)
        breaks = np.flatnonzero((np.diff(unique) != 1) | (np.diff(mean) != 0)) + 1
        for run in np.split(np.arange(unique.size), breaks):
            intervals.append((contig, int(unique[run[0]]), int(unique[run[-1]]) + 1, float(f"{mean[run[0]]:g}")))
    return intervals


def chromosome_sizes(store: str | Path, intervals: list[tuple[str, int, int, float]]) -> tuple[dict[str, int], list[str]]:
    """The length of each contig the intervals name, from the store's ``contig_length``; where that is
    unknown (-1: pre-extracted sequences), the largest end written + 1. The second value names those contigs."""
    from epizoo.store.io import open_store  # lazy: imports xarray

    ds = open_store(store)
    try:
        known = dict(zip(map(str, np.asarray(ds["contig_id"].values, dtype=object)), np.asarray(ds["contig_length"].values).tolist()))
    finally:
        ds.close()
    sizes, guessed = {}, []
    for contig, _start, end, _value in intervals:
        length = int(known.get(contig, -1))
        if length > 0:
            sizes[contig] = length
        else:
            sizes[contig] = max(sizes.get(contig, 0), end + 1)
            if contig not in guessed:
                guessed.append(contig)
    return sizes, guessed


def bigwig(path: Path, intervals: list[tuple[str, int, int, float]], sizes: dict[str, int]) -> int:
    """Write the intervals as a bigWig (pyBigWig) over ``sizes``; a part off a contig (a window past
    its start or end) is left out. Returns how many intervals were clipped or left out that way."""
    pyBigWig = require("pyBigWig", "explain")
    order = list(dict.fromkeys(c for c, *_ in intervals))
    clipped = 0
    kept = {contig: ([], [], []) for contig in order}
    for contig, start, end, value in intervals:
        lo, hi = max(start, 0), min(end, sizes[contig])
        clipped += (lo, hi) != (start, end)
        if lo < hi:
            kept[contig][0].append(lo)
            kept[contig][1].append(hi)
            kept[contig][2].append(value)
    handle = pyBigWig.open(str(path), "w")
    try:
        handle.addHeader([(contig, int(sizes[contig])) for contig in order], maxZooms=10)
        for contig in order:
            begins, ends, values = kept[contig]
            if begins:
                handle.addEntries([contig] * len(begins), begins, ends=ends, values=values)
    finally:
        handle.close()
    return clipped


def write_tracks(folder: Path, chosen: Any, importances: list[Any], method: str, store: str | Path | None = None) -> tuple[list[str], list[str]]:
    """``tracks/enhancer.bedGraph`` and ``tracks/promoter.bedGraph``, and with ``store`` (whose
    ``contig_length`` gives the chromosome sizes) the same tracks as ``tracks/KIND.bw`` (bigWig).
    Returns the files written and notes for the summary."""
    (folder / "tracks").mkdir()
    written, notes, guessed = [], [], []
    clipped = 0
    what = {"ism": "ISM drop in probability", "deeplift": "DeepLIFT/SHAP contribution to the logit"}.get(method, "gradient x input")
    for kind in ("enhancer", "promoter"):
        header = f'track type=bedGraph name="epizoo {kind} importance" description="{what}, per base"\n'
        intervals = merged_intervals(chosen.contigs[kind], chosen.starts[kind], [imp.tracks[kind] for imp in importances])
        path = folder / "tracks" / f"{kind}.bedGraph"
        path.write_text(header + "".join(f"{c}\t{a}\t{b}\t{v:g}\n" for c, a, b, v in intervals))
        written.append(str(path.relative_to(folder)))
        if store is not None and intervals:
            sizes, unknown = chromosome_sizes(store, intervals)
            guessed += [contig for contig in unknown if contig not in guessed]
            clipped += bigwig(folder / "tracks" / f"{kind}.bw", intervals, sizes)
            written.append(f"tracks/{kind}.bw")
    if guessed:
        notes.append(f"bigWig chromosome sizes of {', '.join(guessed)}: unknown to the store (pre-extracted sequences), "
                     "taken as the largest end written + 1")
    if clipped:
        notes.append(f"{clipped} bedGraph intervals reach past a contig's start or end; the bigWig tracks hold their part on the contig")
    return written, notes


def _logo_frame(pwm: np.ndarray):
    import pandas as pd

    logomaker = require("logomaker", "explain")

    frame = pd.DataFrame(pwm.T, columns=list("ACGT"))
    return logomaker.transform_matrix(frame, from_type="probability", to_type="information")


def motif_png(path: Path, title: str, pwm: np.ndarray, match_title: str | None, match_pwm: np.ndarray | None) -> None:
    """The motif's logo (information content), and under it its JASPAR match's logo (or, with no
    ``match_pwm``, the ``match_title`` line alone: no match at the q-value threshold)."""
    import matplotlib

    logomaker = require("logomaker", "explain")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if match_pwm is not None else 1
    figure, axes = plt.subplots(rows, 1, figsize=(max(4.0, 0.45 * max(pwm.shape[1], 0 if match_pwm is None else match_pwm.shape[1])), 2.2 * rows), squeeze=False)
    if match_pwm is None and match_title:  # "no match": said under the motif's own title
        title = f"{title}\n{match_title}"
    for axis, (label, matrix) in zip(axes[:, 0], [(title, pwm), (match_title, match_pwm)][:rows]):
        logomaker.Logo(_logo_frame(matrix), ax=axis)
        axis.set_title(label, fontsize=9)
        axis.set_ylim(0, 2)
        axis.set_ylabel("bits")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def pair_png(path: Path, title: str, importance: Any, starts: dict[str, int], contigs: dict[str, str], method: str) -> None:
    """One pair's importance along the enhancer and the promoter windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(9, 4.5))
    for axis, kind in zip(axes, ("enhancer", "promoter")):
        track = importance.tracks[kind]
        axis.plot(starts[kind] + np.arange(len(track)), track, linewidth=0.8)
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.set_title(f"{kind} {contigs[kind]}:{starts[kind]}-{starts[kind] + len(track)}", fontsize=9)
        axis.set_ylabel({"ism": "drop in p", "deeplift": "DeepLIFT/SHAP"}.get(method, "grad x input"))
    axes[-1].set_xlabel("genomic position")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(dumps(summary, indent=2) + "\n")
