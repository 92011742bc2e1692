"""Store integrity: the manifest of every file a finished build wrote, with its size and sha256.

A Zarr store reads a missing chunk as the array's fill value, so a deleted ``pair_label`` chunk
would read as all-zero labels and a deleted sequence chunk as all N, without any error. The build
therefore writes ``epizoo_manifest.json`` at the store root as its last step: every file of the
store (chunks and metadata) with its size in bytes and its sha256.

* :func:`check_store` is the cheap check run whenever a store is opened: every listed file must
  exist with its recorded size (one ``stat`` per file, no reading).
* :func:`verify_store` is the full check (``epizoo inspect --verify``): sizes and hashes of every
  file, and no chunk file the build did not write.
* :func:`verify_small_arrays` hashes every file but the bulky sequence, track and contact arrays:
  labels, contigs, cell lines, names and coordinates cost little to hash, and a corrupted chunk of
  the right size among them would otherwise give wrong counts without an error (``inspect``,
  ``splits``).

Both name the damaged variable in one line. Stores older than format 1.1 have no manifest and
are not checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from epizoo.errors import StoreError
from epizoo.files import write_text
from epizoo.sources.genome import file_sha256

MANIFEST = "epizoo_manifest.json"
MANIFEST_SINCE = (1, 1)  # store format from which every store carries a manifest


def _files(root: Path) -> list[str]:
    """Every file of the store but the manifest, as POSIX paths relative to ``root``, sorted."""
    names = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if relative != MANIFEST:
                names.append(relative)
    return sorted(names)


def write_manifest(root: str | os.PathLike) -> dict:
    """Record every file of the finished store at ``root`` (the build's last write)."""
    root = Path(root)
    files = {name: [(root / name).stat().st_size, file_sha256(root / name)] for name in _files(root)}
    manifest = {"algorithm": "sha256", "files": files}
    write_text(root / MANIFEST, json.dumps(manifest, indent=0, sort_keys=True) + "\n")
    return manifest


def variable_of(name: str) -> str:
    """The variable a store file belongs to (``enhancer_sequence/c/3/0`` -> ``enhancer_sequence``)."""
    head = name.split("/", 1)[0]
    return "root metadata" if head == name else head


def _format_version(root: Path) -> tuple[int, int]:
    try:
        meta = json.loads((root / "zarr.json").read_text(encoding="utf-8"))
        version = str((meta.get("attributes") or {}).get("epizoo_format_version", "0.0"))
        major, _, minor = version.partition(".")
        return int(major), int(minor or 0)
    except (OSError, ValueError, AttributeError):
        return (0, 0)


def _manifest(root: Path) -> dict | None:
    """The manifest, or None for a store that predates manifests; StoreError when it should be there."""
    path = root / MANIFEST
    if not path.is_file():
        if _format_version(root) < MANIFEST_SINCE:
            return None
        raise StoreError(
            f"store {root} is damaged: its manifest {MANIFEST} is missing (copied incompletely?); "
            "copy it again or rebuild it with `epizoo build-store`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError
        return manifest
    except (OSError, ValueError, KeyError, TypeError):
        raise StoreError(f"store {root} is damaged: its manifest {MANIFEST} is unreadable; rebuild it with `epizoo build-store`") from None


def _summary(root: Path, problems: list[tuple[str, str]]) -> str:
    """One line: the damaged variables and the first problem."""
    variables = list(dict.fromkeys(variable_of(name) for name, _ in problems))
    name, what = problems[0]
    more = f" (and {len(problems) - 1} more damaged file(s))" if len(problems) > 1 else ""
    return (
        f"store {root} is damaged in {', '.join(variables)}: {name} {what}{more}; "
        "rebuild it with `epizoo build-store` or restore it from a copy"
    )


def _size_problems(root: Path, files: dict) -> list[tuple[str, str]]:
    problems = []
    for name, (size, _digest) in files.items():
        try:
            actual = (root / name).stat().st_size
        except OSError:
            problems.append((name, "is missing"))
            continue
        if actual != size:
            problems.append((name, f"has {actual} bytes where the build wrote {size}"))
    return problems


def check_store(path: str | os.PathLike) -> None:
    """The cheap check: every file the build wrote is there with its size. Raises StoreError."""
    root = Path(path)
    manifest = _manifest(root)
    if manifest is None:
        return
    problems = _size_problems(root, manifest["files"])
    if problems:
        raise StoreError(_summary(root, problems))


def verify_before_reading_all(path: str | os.PathLike) -> None:
    """The full check, for commands that read every chunk anyway (``bench``, ``embed``).

    Hashing the files first costs one more read of the store and turns a corrupted chunk into one
    line naming its variable, before anything is written, instead of a codec error mid-run.
    Stores that predate manifests pass unchecked, as they do on open.
    """
    if _manifest(Path(path)) is not None:
        verify_store(path)


BULKY = ("track_value", "contact_value")  # with every *_sequence array: the costly ones to hash


def is_bulky(variable: str) -> bool:
    return variable.endswith("_sequence") or variable in BULKY


def verify_small_arrays(path: str | os.PathLike) -> None:
    """Sizes of every file and sha256 of every file but the bulky arrays' (:func:`is_bulky`).

    Raises StoreError naming the damaged variables; stores that predate manifests pass unchecked.
    """
    root = Path(path)
    manifest = _manifest(root)
    if manifest is None:
        return
    files = manifest["files"]
    problems = _size_problems(root, files)
    damaged = {name for name, _ in problems}
    for name, (_size, digest) in files.items():
        if name not in damaged and not is_bulky(variable_of(name)) and file_sha256(root / name) != digest:
            problems.append((name, "does not match its checksum (corrupted)"))
    if problems:
        raise StoreError(_summary(root, problems))


def verify_store(path: str | os.PathLike) -> dict:
    """The full check: sizes and sha256 of every file, and no file the build did not write.

    Returns ``{"files": n, "bytes": n, "manifest": bool}``; raises StoreError naming the damaged
    variables.
    """
    root = Path(path)
    manifest = _manifest(root)
    if manifest is None:
        raise StoreError(
            f"store {root} has no manifest (built before store format 1.1), so it cannot be verified; "
            "rebuild it with `epizoo build-store` to add one"
        )
    files = manifest["files"]
    problems = _size_problems(root, files)
    damaged = {name for name, _ in problems}
    for name, (_size, digest) in files.items():
        if name not in damaged and file_sha256(root / name) != digest:
            problems.append((name, "does not match its checksum (corrupted)"))
    problems += [
        (name, "was not written by the build")
        for name in _files(root)
        if name not in files and ("/c/" in name or name.endswith("zarr.json"))  # a chunk or metadata
    ]
    if problems:
        raise StoreError(_summary(root, problems))
    return {"files": len(files), "bytes": sum(size for size, _ in files.values()), "manifest": True}
