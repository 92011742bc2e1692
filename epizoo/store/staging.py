"""Folders a build leaves beside its output, and how the next open or build deals with them.

A build writes ``<out>.wip-<pid>`` and, with ``--force``, renames the old store to
``<out>.old-<pid>`` just before renaming the new one in. A build killed outright can leave:

* a ``.wip-<pid>`` folder: unfinished work, deleted by the next build of the same output;
* a ``.old-<pid>`` folder *and no* ``<out>``: the kill came between the two renames, so the old
  store is the only copy. The next open or build renames it back to ``<out>``
  (:func:`recover_replaced`);
* a ``.old-<pid>`` folder beside ``<out>``: the new store is in place and only the delete of the
  old one was missed; the next build deletes it.

Only folders whose process is gone are touched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from epizoo import console
from epizoo.output_folder import is_epizoo_store


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(out: Path, kind: str) -> list[Path]:
    """``<out>.<kind>-<pid>`` folders whose build process is gone (only names a build gives)."""
    found = []
    for path in out.parent.glob(f"{out.name}.{kind}-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            found.append(path)
    return found


def recover_replaced(out: str | os.PathLike) -> Path | None:
    """Rename the newest old store back to ``out`` when a ``--force`` build died between its renames.

    Returns the folder restored from, or None when there was nothing to restore.
    """
    out = Path(out)
    if out.exists() or out.is_symlink() or not out.parent.is_dir():
        return None
    olds = [p for p in _leftovers(out, "old") if is_epizoo_store(p)]
    if not olds:
        return None
    newest = max(olds, key=lambda p: (p / "zarr.json").stat().st_mtime)
    try:
        newest.rename(out)
    except OSError:
        return None  # read-only folder, or another process restored it first
    console.stderr.print(
        f"restored {out} from {newest.name}, left by a --force build that was interrupted", markup=False, highlight=False
    )
    return newest


def clean_stale(out: Path) -> None:
    """Delete unfinished work and already-replaced stores of ``out`` left by dead builds."""
    for stale in out.parent.glob(f"{out.name}.wip-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    for stale in _leftovers(out, "old"):
        if out.exists() or not is_epizoo_store(stale):  # never delete the last copy of a store
            shutil.rmtree(stale, ignore_errors=True)
