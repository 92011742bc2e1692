"""Features meant to transfer across cell lines, on signals normalised within each cell line.

The normalisation itself (``none``, ``log1p``, ``rank``, ``zscore``; label-free, never across cell
lines) is :mod:`epizoo.signal_norm`'s; this module re-exports it for the models of the zoo.
"""

from __future__ import annotations

import numpy as np

from epizoo.errors import EpizooError
from epizoo.signal_norm import NORMALISATIONS, check_normalisation, normalise_by_cell_line, normalise_columns

__all__ = ["NORMALISATIONS", "check_normalisation", "normalise_by_cell_line", "normalise_columns", "transfer_features"]

# Feature groups beyond the normalised (mark, region) columns; each is a hyperparameter choice.
FEATURE_GROUPS = ("products", "window-contrast", "presence")
DISTANCE_FORMS = ("log", "bins", "none")
# Edges of the distance bins, in log10 bp: 10 kb, 30 kb, 100 kb, 300 kb, 1 Mb.
DISTANCE_BIN_EDGES = (4.0, 4.5, 5.0, 5.5, 6.0)


def check_feature_groups(groups) -> tuple[str, ...]:
    groups = tuple(groups)
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise EpizooError(f"unknown feature group(s) {', '.join(map(repr, unknown))}; choose from {', '.join(FEATURE_GROUPS)}")
    return groups


def check_distance_form(form: str) -> str:
    if form not in DISTANCE_FORMS:
        raise EpizooError(f"unknown distance form {form!r}; choose one of {', '.join(DISTANCE_FORMS)}")
    return form


def _region_index(regions: tuple[str, ...], name: str, group: str) -> int:
    if name not in regions:
        raise EpizooError(f"feature group {group!r} needs the store's {name!r} signal region; this store has {', '.join(regions)}")
    return regions.index(name)


def distance_columns(log_distance: np.ndarray, form: str) -> np.ndarray:
    """The distance as one column: log10 bp, its bin (0-5 over :data:`DISTANCE_BIN_EDGES`), or none."""
    check_distance_form(form)
    log_distance = np.asarray(log_distance, dtype=np.float64).reshape(-1, 1)
    if form == "none":
        return np.zeros((len(log_distance), 0))
    if form == "bins":
        return np.digitize(log_distance, DISTANCE_BIN_EDGES).astype(np.float64)
    return log_distance


def transfer_features(
    raw: np.ndarray, normalised: np.ndarray, regions, groups=(), log_distance=None, distance_form: str = "log"
) -> np.ndarray:
    """The feature matrix: normalised (mark, region) columns mark-major, then each chosen group, then
    the distance column.

    * ``products``: per mark, enhancer x promoter and enhancer - promoter of the normalised values
      (on a log scale the difference is the log ratio);
    * ``window-contrast``: per mark, the window minus the mean of its two elements (the store holds no
      flanks beyond the elements; the elements are the window's anchors);
    * ``presence``: per (mark, region), whether the raw signal is above 0 (a peak overlaps), then the
      number of marks present at the enhancer and at the promoter: presence, not magnitude.
    """
    regions, groups = tuple(regions), check_feature_groups(groups)
    parts = [normalised.reshape(len(normalised), -1)]
    if "products" in groups or "window-contrast" in groups:
        enhancer = normalised[:, :, _region_index(regions, "enhancer", "products")]
        promoter = normalised[:, :, _region_index(regions, "promoter", "products")]
    if "products" in groups:
        parts += [enhancer * promoter, enhancer - promoter]
    if "window-contrast" in groups:
        window = normalised[:, :, _region_index(regions, "window", "window-contrast")]
        parts.append(window - (enhancer + promoter) / 2)
    if "presence" in groups:
        present = raw > 0
        parts.append(present.reshape(len(raw), -1))
        for region in ("enhancer", "promoter"):
            parts.append(present[:, :, _region_index(regions, region, "presence")].sum(axis=1, keepdims=True))
    if log_distance is not None:
        parts.append(distance_columns(log_distance, distance_form))
    return np.column_stack(parts).astype(np.float64)
