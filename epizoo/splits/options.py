"""Split options: one reading of ``KEY=VALUE`` for every command, and one line for a wrong option."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Sequence

import xarray as xr

from epizoo import options
from epizoo.splits.folds import Fold
from epizoo.splits.pairs import SplitOptionError

# ---- option checking and registration --------------------------------------------------------


def parse_options(items: Sequence[str], flag: str = "--option", example: str = "valid_contigs=2") -> dict[str, Any]:
    """``KEY=VALUE`` items to a dict, read by :func:`epizoo.options.parse_options` (the one reading of
    every command); a malformed item is a :class:`SplitOptionError`."""
    return options.parse_options(items, flag, example, error=SplitOptionError)


def _checked(function: Callable[..., list[Fold]], name: str) -> Callable[..., list[Fold]]:
    """Turn unknown or missing options into one clear line instead of a TypeError."""
    signature = inspect.signature(function)
    accepted = [n for n, p in signature.parameters.items() if p.kind == p.KEYWORD_ONLY]

    @functools.wraps(function)
    def run(ds: xr.Dataset, **options: Any) -> list[Fold]:
        try:
            signature.bind(ds, **options)
        except TypeError as exc:
            listed = ", ".join(accepted) or "none"
            raise SplitOptionError(f"split {name!r}: {exc}; its options are {listed}") from None
        return function(ds, **options)

    return run
