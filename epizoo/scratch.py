"""The temporary directory (``TMPDIR``) and the scratch folders epizoo makes in it.

A command that needs room nobody asked for (``predict --bedpe`` builds a store of the BEDPE's pairs
there) makes an ``epizoo-*`` folder in :func:`tempfile.gettempdir`. When that disk fills, the fix is
not another ``--out`` but space in the temporary directory, or ``TMPDIR`` set elsewhere: these
helpers tell the two apart and say so in one line.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

PREFIX = "epizoo-"  # every scratch folder epizoo makes in the temporary directory starts so
FULL = (errno.ENOSPC, errno.EDQUOT)


def temporary_directory() -> Path:
    return Path(tempfile.gettempdir())


def _under(path: str | os.PathLike, folder: Path) -> tuple[str, ...] | None:
    try:
        return Path(os.path.abspath(path)).resolve().relative_to(folder.resolve()).parts
    except (ValueError, OSError):
        return None


def in_scratch(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` lies in a scratch folder epizoo made in the temporary directory."""
    parts = _under(path, temporary_directory()) if path else None
    return bool(parts) and parts[0].startswith(PREFIX)


def in_temporary_directory(path: str | os.PathLike | None) -> bool:
    return bool(path) and _under(path, temporary_directory()) is not None


def full_line(path: str | os.PathLike | None, exc: OSError | None = None) -> str:
    """The line for a full temporary directory: it names it and says how to give it room."""
    where = f" while writing {path}" if path else ""
    reason = "no space left" if exc is None or exc.errno == errno.ENOSPC else "disk quota exceeded"
    set_by = "TMPDIR" if os.environ.get("TMPDIR") else "the system's default; TMPDIR is unset"
    return (
        f"{reason} in the temporary directory {temporary_directory()} ({set_by}){where}. "
        "Free some space there, or set TMPDIR to a folder with room (e.g. `TMPDIR=/scratch/$USER epizoo ...`)"
    )
