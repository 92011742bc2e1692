"""Splits of a store's pairs into folds, and the leakage check that proves a fold is clean.

A split is ``function(ds, **options) -> list[Fold]``: boolean masks over ``pairs`` computed from
the small per-pair variables only (never the sequences), so all folds of a large store take
milliseconds. This module is a default plugin: it registers ``loco``, ``cross-cell-line``,
``cross-cell-line-strict``, ``source-groups``, ``chromosome``, ``random`` and ``transepi``.

:func:`check_leakage` proves a fold clean: no element shared between the training side (train +
valid) and the test side, and no stored window (model window plus flank, which the shift
augmentation can reach) of a training-side element overlapping one of a test-side element.

The package: :mod:`~epizoo.splits.pairs` (the per-pair table and name resolution),
:mod:`~epizoo.splits.folds` (``Fold`` and the splits), :mod:`~epizoo.splits.leakage` (the check),
:mod:`~epizoo.splits.options` (``KEY=VALUE`` read by :mod:`epizoo.options`, its errors split errors;
option checking); registration lives here.
"""

from __future__ import annotations

from typing import Any, Callable

import xarray as xr

from epizoo import plugins
from epizoo.hookspecs import hookimpl
from epizoo.options import parse_option_value
from epizoo.splits.folds import (
    Fold,
    LeakageWarning,
    chromosome,
    cross_cell_line,
    cross_cell_line_strict,
    loco,
    random,
    source_groups,
    transepi,
)
from epizoo.splits.leakage import LeakageReport, check_folds, check_leakage
from epizoo.splits.options import _checked, parse_options
from epizoo.splits.pairs import SplitOptionError

__all__ = [
    "Fold", "LeakageReport", "LeakageWarning", "SPLITS", "SplitOptionError", "check_folds", "check_leakage",
    "chromosome", "cross_cell_line", "cross_cell_line_strict", "get_folds", "get_split", "loco",
    "parse_option_value", "parse_options", "random", "register_splits", "source_groups", "transepi",
]


SPLITS: dict[str, tuple[Callable[..., list[Fold]], str]] = {
    "loco": (loco, "leave one chromosome out: one fold per autosome/chrX; validation the next chromosome"),
    "cross-cell-line": (cross_cell_line, "train on other cell lines, test on one; validation by chromosome"),
    "cross-cell-line-strict": (cross_cell_line_strict, "cross-cell-line without test elements shared with or overlapping training"),
    "source-groups": (source_groups, "each source table's own cv groups (BENGI cv-k): one fold per table and group"),
    "chromosome": (chromosome, "named test and validation chromosomes, one fold"),
    "random": (random, "pair-level stratified random split; LEAKS, only to reproduce published numbers"),
    "transepi": (transepi, "TransEPI's cross-cell protocol: train on some cell lines, test another on held-out chromosome groups"),
}


@hookimpl
def register_splits(register):
    for name, (function, description) in SPLITS.items():
        register(name, _checked(function, name), description)


def get_split(name: str) -> Callable[..., list[Fold]]:
    """The function of the registered split ``name`` (built-in or from a plugin).

    A built-in name is answered here, without loading the plugins (the models import torch);
    plugins cannot take a built-in name, so the answer is the same.
    """
    builtin = {key.lower(): key for key in SPLITS}.get(str(name).lower())
    if builtin is not None:
        return _checked(SPLITS[builtin][0], builtin)
    return plugins.get_split(name).function


def get_folds(ds: xr.Dataset, name: str, **options: Any) -> list[Fold]:
    """The folds of the registered split ``name``: ``get_split(name)(ds, **options)``."""
    return get_split(name)(ds, **options)
