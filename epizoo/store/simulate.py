"""A synthetic store in one call, for tests, docs and notebooks: the offline grammar of
:mod:`epizoo.datasets.synthetic`, built by :func:`epizoo.store.build.build_store`."""

from __future__ import annotations

import os

import xarray as xr

from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import simulate
from epizoo.store.build import build_store
from epizoo.store.io import open_store


def simulate_store(path: str | os.PathLike, *, force: bool = False, progress: bool = False, seed: int = 0, **options) -> xr.Dataset:
    """Build a synthetic store at ``path`` and open it (for tests, docs and notebooks).

    ``options`` are the synthetic generator's (``n_pairs``, ``n_contigs``, ``cell_lines`` ...).

    Args:
        path: the store to write, a ``.zarr`` folder.
        force: replace an existing store at ``path``.
        progress: show the build's progress bar.
        seed: the generator's seed; the same seed and options give the same store.
        **options: the synthetic generator's options (:mod:`epizoo.datasets.synthetic`).

    Returns:
        The new store, opened as :func:`~epizoo.store.io.open_store` opens it.

    Raises:
        StoreError: ``path`` exists and ``force`` is not given (or it is not a store to replace), or
            its folder is missing or not writable.
        EpizooError: an unknown or out-of-range option.
    """
    loaded = simulate(DatasetRequest(seed=seed, options=options))
    build_store(loaded, path, force=force, progress=progress, dataset="synthetic", command=f"epizoo.simulate_store({options!r})")
    return open_store(path)
