"""Signal-track lists: which bigWig holds each cell line's marks (``tracks.yaml``).

One small reader, shared by every command that takes ``--tracks``/``--signals``::

    GM12878:            # cell line
      CTCF: gm12878_ctcf.bw   # mark: bigWig path, relative to the YAML file
      ATAC: /data/gm12878_atac.bigWig
    K562:
      CTCF: k562_ctcf.bw

Every problem (missing file, not a mapping, empty cell line, absent bigWig) is one line naming the
YAML file and the entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from epizoo import console
from epizoo.errors import InputFileError
from epizoo.extras import require
from epizoo.textfile import refuse_special_file


def read_yaml_mapping(path: str | os.PathLike, what: str) -> dict:
    """The top-level mapping of a YAML file, or one clear line saying why it is not one."""
    import yaml

    path = Path(path)
    if not path.is_file():
        refuse_special_file(path, f"{what} file")
        raise InputFileError(f"{what} file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputFileError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(raw, dict) or not raw:
        raise InputFileError(f"{path}: expected a mapping of cell line -> ..., got {type(raw).__name__}")
    return raw


def resolve_file(yaml_path: Path, value: object, where: str) -> Path:
    """``value`` as a path relative to the YAML file's folder, which must exist."""
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(f"{yaml_path}: {where} must be a file path, got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else yaml_path.parent / path
    if not path.is_file():
        refuse_special_file(path, f"{yaml_path}: {where} names {value!r}, but")
        raise InputFileError(f"{yaml_path}: {where} names {value!r}, but {path} does not exist")
    return path


def read_tracks_yaml(path: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """``{cell_line: {mark: bigWig path}}`` from a tracks YAML file (paths resolved and checked)."""
    path = Path(path)
    tracks: dict[str, dict[str, Path]] = {}
    for cell, marks in read_yaml_mapping(path, "tracks").items():
        if not isinstance(marks, dict) or not marks:
            raise InputFileError(f"{path}: cell line {cell!r} must map mark names to bigWig files, e.g. `CTCF: ctcf.bw`")
        tracks[str(cell)] = {str(mark): resolve_file(path, file, f"{cell}/{mark}") for mark, file in marks.items()}
    return tracks


# ---- checks of the track files (the genome layer's and the bigWig signals') --------------------


ASSEMBLY_FLAG = "--allow-assembly-mismatch"


def assembly_mismatch_line(what: str, contig: str, theirs: int, genome: str, ours: int) -> str:
    """One line for a contig whose length in a track or map is not the genome's: another assembly."""
    return (
        f"{what} gives {contig} {theirs:,} bp but {genome} gives it {ours:,} bp; tracks and genome must be the same "
        f"assembly: give files of the genome's build, or pass {ASSEMBLY_FLAG} to read them anyway"
    )


def _check_lengths(what: str, lengths: dict[str, int], genome: str, wanted: dict[str, int], allow: bool) -> None:
    """Refuse (or, with ``allow``, warn once about) the contigs of ``wanted`` whose length differs in ``lengths``."""
    differ = [(c, int(lengths[c]), int(n)) for c, n in wanted.items() if c in lengths and int(lengths[c]) != int(n)]
    if not differ:
        return
    contig, theirs, ours = differ[0]
    if not allow:
        raise InputFileError(assembly_mismatch_line(what, contig, theirs, genome, ours))
    more = f" (and {len(differ) - 1} more contig{'s' if len(differ) > 2 else ''})" if len(differ) > 1 else ""
    console.stderr.print(f"WARNING: {what} gives {contig} {theirs:,} bp but {genome} gives it {ours:,} bp{more}; read anyway "
                         f"({ASSEMBLY_FLAG}): NaN where it is shorter, cut where it is longer", markup=False, highlight=False,
                         soft_wrap=True, style="bold red")


def track_extremes(bw, contig: str) -> tuple[float | None, float | None]:
    """The smallest and largest value of a bigWig on ``contig`` from its zoom levels (cheap), None
    where it holds none. pyBigWig's ``header()`` is never asked: it crashes on a track holding NaN or
    an infinite value."""
    low, high = bw.stats(contig, type="min")[0], bw.stats(contig, type="max")[0]
    return (None if low is None or low != low else float(low)), (None if high is None or high != high else float(high))


def infinite_value_line(what: str, contig: str, value: float) -> str:
    return (
        f"{what} holds {'-' if value < 0 else ''}inf on {contig}; a track must hold finite numbers (NaN or no entry "
        "where nothing was measured): fix the file, e.g. clip it when converting to bigWig"
    )


def open_bigwig(path: str | os.PathLike, what: str = "") -> object:
    """An open pyBigWig handle on ``path``, or one line saying it is not a bigWig (``what``, e.g.
    ``"track K562/CTCF: "``, says which input it was)."""
    pyBigWig = require("pyBigWig", "signals", needed_for="bigWig tracks")
    try:
        handle = pyBigWig.open(str(path))
    except RuntimeError:  # pyBigWig's answer to a file it cannot parse
        handle = None
    if handle is None or not handle.isBigWig():
        raise InputFileError(f"{what}{path} is not a bigWig file")
    return handle
