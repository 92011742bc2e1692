"""What ``epizoo explain`` writes: bedGraph tracks, the cluster table, logos, one pair's plot, a summary.

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


def bedgraph(contigs: np.ndarray, starts: np.ndarray, tracks: list[np.ndarray]) -> str:
    """One bedGraph of many elements' per-base tracks: bases shared by several (an element explained with
    several partners, overlapping windows) get the mean; equal neighbours merge into one interval."""
    lines = []
    for contig in sorted(set(map(str, contigs))):
        mine = np.flatnonzero(contigs == contig)
        positions = np.concatenate([starts[i] + np.arange(len(tracks[i])) for i in mine])
        values = np.concatenate([tracks[i] for i in mine])
        unique, inverse = np.unique(positions, return_inverse=True)
        mean = np.round(np.bincount(inverse, values) / np.bincount(inverse), TRACK_DIGITS)
        breaks = np.flatnonzero((np.diff(unique) != 1) | (np.diff(mean) != 0)) + 1
        for run in np.split(np.arange(unique.size), breaks):
            lines.append(f"{contig}\t{unique[run[0]]}\t{unique[run[-1]] + 1}\t{mean[run[0]]:g}")
    return "\n".join(lines) + "\n"


def write_tracks(folder: Path, chosen: Any, importances: list[Any], method: str) -> list[str]:
    """``tracks/enhancer.bedGraph`` and ``tracks/promoter.bedGraph``."""
    (folder / "tracks").mkdir()
    written = []
    what = "ISM drop in probability" if method == "ism" else "gradient x input"
    for kind in ("enhancer", "promoter"):
        header = f'track type=bedGraph name="epizoo {kind} importance" description="{what}, per base"\n'
        body = bedgraph(chosen.contigs[kind], chosen.starts[kind], [imp.tracks[kind] for imp in importances])
        path = folder / "tracks" / f"{kind}.bedGraph"
        path.write_text(header + body)
        written.append(str(path.relative_to(folder)))
    return written


def _logo_frame(pwm: np.ndarray):
    import pandas as pd

    from epizoo.extras import require

    logomaker = require("logomaker", "explain")

    frame = pd.DataFrame(pwm.T, columns=list("ACGT"))
    return logomaker.transform_matrix(frame, from_type="probability", to_type="information")


def motif_png(path: Path, title: str, pwm: np.ndarray, match_title: str | None, match_pwm: np.ndarray | None) -> None:
    """The motif's logo (information content), and under it its JASPAR match's logo (or, with no
    ``match_pwm``, the ``match_title`` line alone: no match at the q-value threshold)."""
    import matplotlib

    from epizoo.extras import require

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
        axis.set_ylabel("drop in p" if method == "ism" else "grad x input")
    axes[-1].set_xlabel("genomic position")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(dumps(summary, indent=2) + "\n")
