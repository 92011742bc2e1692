"""The one rule for every folder a command writes: ``--force`` replaces only what epizoo made.

Each folder epizoo writes carries a marker: a store the epizoo format version in its root
attributes, every other output (an explain folder, a contact run) a ``.epizoo-output`` file naming
the command that made it. Replacing an existing folder needs ``--force`` *and* the same command's
marker, and never touches a folder that is also an input: a user's folder, another command's
output, or the store being read are never deleted, whatever the flags.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from epizoo.errors import EpizooError

MARKER = ".epizoo-output"
STORE = "store"


def is_epizoo_store(path: Path) -> bool:
    """True when ``path`` is a Zarr group whose root attributes carry the epizoo format version."""
    try:
        meta = json.loads((Path(path) / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "epizoo_format_version" in (meta.get("attributes") or {})


def write_marker(folder: str | os.PathLike, kind: str) -> None:
    """Mark ``folder`` as the output of command ``kind`` (done in the staging folder, before its rename)."""
    (Path(folder) / MARKER).write_text(json.dumps({"made_by": "epizoo", "kind": kind}) + "\n", encoding="utf-8")


def made_by(path: str | os.PathLike) -> str | None:
    """Which epizoo command made folder ``path`` (``"store"`` for a store); None when epizoo did not."""
    path = Path(path)
    if is_epizoo_store(path):
        return STORE
    try:
        meta = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("kind") if isinstance(meta, dict) and meta.get("made_by") == "epizoo" else None


def _overlaps(out: Path, source: Path) -> bool:
    """True when deleting or writing ``out`` would touch ``source`` (the same folder, or one inside the other)."""
    try:
        out, source = out.resolve(), Path(source).resolve()
    except (OSError, RuntimeError):
        return False
    return out == source or out in source.parents or source in out.parents


def _noun(kind: str) -> str:
    return "an epizoo store" if kind == STORE else f"an epizoo {kind} output"


def check_replaceable(out: str | os.PathLike, force: bool, kind: str, *, inputs: Iterable = (), flag: str = "-o",
                      error: type[EpizooError] = EpizooError) -> None:
    """Refuse, in one line, an ``out`` that this command may not (re)place; call it before any slow work
    and again just before deleting anything.

    ``inputs``: paths the command reads (a store, a checkpoint), which ``out`` may neither be nor hold.
    """
    out = Path(out)
    for source in inputs:
        if source is not None and _overlaps(out, Path(source)):
            raise error(f"{flag} {out} is also an input of this command ({source}); choose another {flag}")
    if not out.exists() and not out.is_symlink():
        return
    if not force:
        raise error(f"{out} already exists; pass --force to replace it, or choose another {flag}")
    if out.is_symlink() or not out.is_dir() or made_by(out) != kind:
        # Not a folder this command made: a user's files, another command's output, a link. Never deleted.
        raise error(f"{out} is not {_noun(kind)}; remove it yourself or choose another {flag}")
