"""What every store build shares, the pairs' (``build``) and the genome layer's (``genome_layer``):
the staged work-in-progress folder, the move into place, text arrays and the finishing step.

It sits below both builders so that the genome layer needs nothing from ``build``.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from epizoo import scratch
from epizoo.errors import StoreError
from epizoo.jsontext import dumps
from epizoo.output_folder import STORE, check_replaceable
from epizoo.store.integrity import write_manifest
from epizoo.store.io import open_store, quiet_consolidation, store_size
from epizoo.store.staging import clean_stale, recover_replaced

if TYPE_CHECKING:
    from epizoo.store.build import BuildReport

# Chosen by measurement (docs/performance.md, "Store"): bitshuffle lays the 2 informative bits of
# each code into their own planes, which zstd then packs to ~0.25 bytes per base.
SEQUENCE_CODEC = {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle"}



def _text(values) -> np.ndarray:
    """Strings as numpy's variable-width StringDType (stored as Zarr v3 vlen UTF-8), even when empty."""
    return np.array(list(values), dtype=np.dtypes.StringDType())


def _move_into_place(wip: Path, out: Path, force: bool) -> None:
    """Rename the finished build onto ``out``; whether ``out`` may be replaced is decided here.

    Without ``force``, a store that another build put at ``out`` meanwhile is never replaced:
    renaming a folder onto a non-empty one fails, so of two concurrent builds only the first
    wins. With ``force``, an old store is renamed aside and the new one renamed in straight
    after, so ``out`` is missing only between two renames (a kill there is recovered by
    :func:`staging.recover_replaced`); the slow delete of the old store comes last.
    """
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if force and out.exists():
        check_replaceable(out, force, STORE, flag="--out", error=StoreError)  # still ours after the slow build?
        out.rename(old)
    try:
        os.rename(wip, out)
    except OSError as exc:
        if force and old.exists() and not out.exists():
            old.rename(out)  # put the old store back
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise
        raise StoreError(
            f"{out} appeared while this build ran (another build of the same --out?); it was left as it is. "
            "Pass --force to replace it, or choose another --out"
        ) from None
    shutil.rmtree(old, ignore_errors=True)


def check_output(out: Path, force: bool) -> None:
    """Refuse to overwrite a store without ``force``, or anything but a store with it, before any slow work."""
    recover_replaced(out)  # a --force build killed between its renames left the old store aside
    check_replaceable(out, force, STORE, flag="--out", error=StoreError)
    if not out.parent.is_dir():
        raise StoreError(f"folder {out.parent} does not exist; create it or choose another --out")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise StoreError(f"folder {out.parent} is not writable; choose another --out")


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """The work-in-progress folder of a build of ``out``: whatever fails inside removes it, and an
    OS error (a full disk, a folder made read-only meanwhile, an unreadable source) becomes one line."""
    clean_stale(out)
    wip = out.with_name(f"{out.name}.wip-{os.getpid()}")
    try:
        yield wip
    except OSError as exc:
        shutil.rmtree(wip, ignore_errors=True)
        raise StoreError(_os_error_line(out, exc)) from None
    except BaseException:
        shutil.rmtree(wip, ignore_errors=True)
        raise


def _os_error_line(out: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in scratch.FULL and (scratch.in_scratch(out) or scratch.in_scratch(exc.filename)):
        return scratch.full_line(out, exc)  # a store of epizoo's own in TMPDIR (predict --bedpe): --out is not the fix
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device while writing {out}{where}; nothing was kept. Free some space or choose another --out"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {out}: {reason}{where}; nothing was kept. Choose a writable --out"
    return f"building {out} failed: {reason}{where}; nothing was kept"


def _finalise(wip: Path, report: BuildReport, began: float) -> None:
    """Record the report and creation time, consolidate metadata and validate the staged store."""
    import zarr


    report.bytes_on_disk = store_size(wip)
    report.seconds = round(time.perf_counter() - began, 3)
    group = zarr.open_group(wip, mode="r+", zarr_format=3)
    group.attrs.update(
        {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "build_report": dumps(report.to_dict())}
    )
    with quiet_consolidation():
        zarr.consolidate_metadata(wip)
    write_manifest(wip)  # last: the list of every file this build wrote, checked on each open
    open_store(wip, allow_staging=True)
