"""Open a store as a lazy, validated xarray Dataset (with the ``ds.epizoo`` accessor registered)."""

from __future__ import annotations

import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from epizoo import schema
from epizoo.errors import StoreError
from epizoo.store import accessor as _registers_ds_epizoo  # noqa: F401 (imported for its side effect: it registers ds.epizoo)
from epizoo.store.integrity import check_store
from epizoo.store.staging import recover_replaced

@contextmanager
def quiet_consolidation():
    """Silence zarr's notice that consolidated metadata is not yet part of the v3 spec.

    epizoo both writes and reads it, so the notice would only be noise on every open.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        # listing the root meets epizoo_manifest.json, which is epizoo's, not a Zarr node
        warnings.filterwarnings("ignore", message="Object at epizoo_manifest.json is not recognized")
        yield


_STAGING = re.compile(r"\.(wip|old)-\d+$")


def _check_path(path: Path, allow_staging: bool) -> None:
    if _STAGING.search(path.name) and not allow_staging:
        raise StoreError(f"{path} is an unfinished or interrupted build, not a store; run `epizoo build-store` again")
    if not path.exists():
        raise StoreError(f"store {path} does not exist; build one with `epizoo build-store --out {path}`")
    if not path.is_dir() or not (path / "zarr.json").is_file():
        raise StoreError(f"{path} is not a Zarr store; build one with `epizoo build-store`")


def open_store(path: str | os.PathLike, *, allow_staging: bool = False, check: bool = True) -> xr.Dataset:
    """The store at ``path`` as a lazy (dask-backed) Dataset, checked against :mod:`epizoo.schema`.

    With ``check`` (the default) the cheap integrity check runs first: every file the build wrote
    must be there with its size (:func:`epizoo.store.integrity.check_store`), so a damaged store
    fails here, with the damaged variable named, rather than reading missing chunks as fill values.

    Args:
        path: the store, a ``.zarr`` folder written by ``epizoo build-store``.
        allow_staging: open a build's work-in-progress folder (for the builder itself).
        check: run the cheap integrity check first.

    Returns:
        The store's variables (:mod:`epizoo.schema`) over the ``pairs``, ``enhancers`` and
        ``promoters`` dimensions, with the ``ds.epizoo`` accessor.

    Raises:
        StoreError: not a store, or a damaged one (one line that says what to do).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise StoreError(f"open_store needs the path of a store (a .zarr folder), got {path!r}")
    path = Path(path)
    if not allow_staging:
        recover_replaced(path)  # a --force build killed between its two renames
    _check_path(path, allow_staging)
    if check:
        check_store(path)
    try:
        with quiet_consolidation():
            ds = xr.open_zarr(path, consolidated=True, zarr_format=3)
    except (ValueError, KeyError, OSError, TypeError, AttributeError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise StoreError(f"cannot open {path} as a store ({first_line}); rebuild it with `epizoo build-store`") from None
    return schema.validate(ds)


def require_pairs(ds_or_attrs, path: str | os.PathLike) -> None:
    """Refuse, in one line, a genome-only store where pairs are to be scored or explained (it has a
    genome layer, so "rebuild with --genome" would not help; pairs are what it lacks)."""
    if "pairs" not in schema.store_layers(ds_or_attrs):
        raise StoreError(
            f"{path} is a genome-only store: it has a genome layer but no pairs to score; give a store of pairs "
            "(`epizoo build-store --dataset NAME ...`, which can carry the genome layer too)"
        )


def store_size(path: str | os.PathLike) -> int:
    """Bytes the store occupies on disk."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
