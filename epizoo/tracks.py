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

from epizoo.errors import InputFileError
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
