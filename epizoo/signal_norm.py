"""Normalisation of epigenomic signals within each cell line: per model, or once for a whole store.

Each cell line's signals come from its own peak files, on its own scale: the same mark's mean signal
per bp may differ several-fold between cell lines for the same activity. A model fitted on the
training cell lines' scales reads a new cell line's values against the wrong yardstick. Each
(mark, region) column is therefore put on a common scale *within each cell line*, from that cell
line's own pairs:

* ``none``: the raw mean signal per bp;
* ``log1p``: ``log1p(x / unit)``, ``unit`` the column's mean over the cell line's pairs;
* ``zscore``: that ``log1p`` value standardised (mean 0, SD 1) within the cell line;
* ``rank``: the column's mid-rank within the cell line divided by its number of pairs, in (0, 1]
  (quantile normalisation to the uniform distribution); ties (e.g. every zero) share one rank.

The statistics are label-free and never cross cell lines. Two places use them:

* a model (``crosscell-xgb``) normalises at fit time over each training cell line's training
  pairs and at scoring time over the scored pairs of each cell line (per-sample, transductive);
* :func:`normalise_store_signals` writes a copy of a store whose ``pair_signal`` is normalised
  over all of each cell line's measured pairs, and records it in the attribute
  ``signal_normalisation``, so that any signal model (``targetfinder-xgb``, ``chromnet-pair``)
  can be run on it unchanged. Store-wide, a cell line's statistics include its pairs on every
  chromosome, held-out ones too (label-free); the model-level form does not.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from epizoo.errors import EpizooError, StoreError
from epizoo.store.integrity import MANIFEST, write_manifest

NORMALISATIONS = ("none", "log1p", "rank", "zscore")
# A store's pair_signal stays >= 0 (signal models refuse negative values as log-scaled input), so a
# store holds only the normalisations that keep it so.
STORE_NORMALISATIONS = ("log1p", "rank")
NORMALISATION_ATTRIBUTE = "signal_normalisation"
UNIT_FLOOR = 1e-12  # a column that is 0 in every pair of a cell line keeps a finite unit
SD_FLOOR = 1e-6  # a constant column standardises to 0, not to a division by zero


def check_normalisation(method: str, allowed=NORMALISATIONS) -> str:
    if method not in allowed:
        raise EpizooError(f"unknown signal normalisation {method!r}; choose one of {', '.join(allowed)}")
    return method


def normalise_columns(columns: np.ndarray, method: str) -> np.ndarray:
    """``columns`` (n, k) of one cell line, raw (>= 0), normalised column by column over its n rows."""
    columns = np.asarray(columns, dtype=np.float64)
    if method == "none" or len(columns) == 0:
        return columns.copy()
    if method == "rank":
        return rankdata(columns, method="average", axis=0) / len(columns)
    logged = np.log1p(columns / np.maximum(columns.mean(axis=0), UNIT_FLOOR))
    if method == "log1p":
        return logged
    return (logged - logged.mean(axis=0)) / np.maximum(logged.std(axis=0), SD_FLOOR)


def normalise_by_cell_line(signals: np.ndarray, cell_line: np.ndarray, method: str) -> np.ndarray:
    """Signals ``(B, marks, regions)`` normalised within each cell line's rows (see the module doc)."""
    check_normalisation(method)
    signals = np.asarray(signals, dtype=np.float64)
    cell_line = np.asarray(cell_line).reshape(-1)
    if len(cell_line) != len(signals):
        raise EpizooError(f"got {len(signals)} pairs of signals and {len(cell_line)} cell-line ids; pass one per pair")
    flat = signals.reshape(len(signals), -1)
    out = np.empty_like(flat)
    for line in np.unique(cell_line):
        rows = cell_line == line
        out[rows] = normalise_columns(flat[rows], method)
    return out.reshape(signals.shape)


def normalise_store_signals(source: str | os.PathLike, out: str | os.PathLike, method: str) -> Path:
    """Copy the store at ``source`` to ``out`` with ``pair_signal`` normalised within each cell line
    (over its pairs with every signal measured; the others stay missing) and the method recorded."""
    import zarr

    from epizoo.store.io import open_store, quiet_consolidation  # lazy: imports xarray

    check_normalisation(method, STORE_NORMALISATIONS)
    source, out = Path(source), Path(out)
    ds = open_store(source)
    if "pair_signal" not in ds:
        raise StoreError(f"{source} has no signals to normalise; build it with --signals")
    if ds.attrs.get(NORMALISATION_ATTRIBUTE):
        raise StoreError(f"{source}'s signals are already normalised ({ds.attrs[NORMALISATION_ATTRIBUTE]}); start from the raw store")
    if out.exists():
        raise StoreError(f"{out} exists; give a new path for the normalised store")
    signals = np.asarray(ds["pair_signal"].values, dtype=np.float64)
    cell_line = np.asarray(ds["pair_cell_line"].values)
    measured = np.isfinite(signals).all(axis=(1, 2))
    normalised = np.full_like(signals, np.nan)
    normalised[measured] = normalise_by_cell_line(signals[measured], cell_line[measured], method)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    group = zarr.open_group(str(staging), mode="r+")
    group["pair_signal"][:] = normalised.astype(group["pair_signal"].dtype)
    group.attrs[NORMALISATION_ATTRIBUTE] = f"{method} within each cell line, over its measured pairs (label-free)"
    (staging / MANIFEST).unlink()  # the source's list of files; rewritten below, after the change
    with quiet_consolidation():
        zarr.consolidate_metadata(str(staging))
    write_manifest(staging)
    open_store(staging, allow_staging=True)  # the copy must open and validate before it takes the name
    staging.rename(out)  # nothing half-written under the final name
    return out
