"""Split options: one reading of ``KEY=VALUE`` for every command, and one line for a wrong option."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Sequence

import xarray as xr

from epizoo.splits.folds import Fold
from epizoo.splits.pairs import SplitOptionError

# ---- option checking and registration --------------------------------------------------------


def parse_option_value(text: str) -> Any:
    """One ``KEY=VALUE`` value, read the same way by every command (``bench --split-option``,
    ``splits --option``, ``build-store --option``): JSON when it parses (``2``, ``0.1``, ``true``,
    ``null``, ``["chr1", "chr2"]``, ``"quoted"``), ``True``/``False``/``None`` in any case, a list of
    names when comma-separated (``chr1,chr2``), else the text itself."""
    import json

    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    word = {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)
    if word is not text:
        return word
    if "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def parse_options(items: Sequence[str], flag: str = "--option", example: str = "valid_contigs=2") -> dict[str, Any]:
    """``KEY=VALUE`` items to a dict of values parsed by :func:`parse_option_value`."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise SplitOptionError(f"{flag} {item!r} is not KEY=VALUE; write it as e.g. {flag} {example}")
        options[key.strip()] = parse_option_value(value)
    return options



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
