"""Comma lists and ``KEY=VALUE`` options, read one way everywhere.

Every command-line value that names several things (``--cell-lines A,B``, ``EPIZOO_PLUGINS``,
``--split-option test=chr20,chr21``, ``--regime specific,gen``) and every ``KEY=VALUE`` option
(``bench``, ``splits`` and ``train-contacts --split-option``, ``build-store --option``) goes
through this module, so that ``a, b``, ``a,,b``, a repeated option and an already-split list all
mean the same thing wherever they are given.

A low module: it imports only the standard library and :mod:`epizoo.errors`, so any module (the
command line's option helpers included, which must keep ``epizoo --help`` fast) may use it.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from epizoo.errors import EpizooError


def comma_list(value: Any) -> list[str]:
    """Names from ``'a,b'``, ``['a', 'b']``, ``['a,b', 'c']`` (a repeated option) or nested lists
    (``[['a', 'b'], 'c']``), stripped, empty ones dropped; ``None`` is ``[]``. A single value that is
    not text (``8`` read as JSON from ``test=8``) is one name, ``'8'``."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        text = value.decode() if isinstance(value, bytes) else str(value)
        return [name.strip() for name in text.split(",") if name.strip()]
    return [name for item in value for name in comma_list(item)]


def groups_list(value: Any) -> list[list[str]]:
    """Groups of names: ``'a,b;c,d'`` is ``[['a', 'b'], ['c', 'd']]``; a list holds one group per item
    (a list, or text read by :func:`comma_list`). Groups that name nothing (``'a;;b'``) are dropped."""
    if value is None:
        return []
    items = value.split(";") if isinstance(value, str) else value
    groups = [comma_list(item) for item in items]
    return [group for group in groups if group]


def parse_option_value(text: str) -> Any:
    """One ``KEY=VALUE`` value: JSON when it parses (``2``, ``0.1``, ``true``, ``null``,
    ``["chr1", "chr2"]``, ``"quoted"``), ``True``/``False``/``None`` in any case, groups of names when
    ``;``-separated (``chr1,chr2;chr3``, see :func:`groups_list`), a list of names when comma-separated
    (``chr1,chr2``), else the text itself."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lowered = text.lower()
    words = {"true": True, "false": False, "none": None, "null": None}
    if lowered in words:
        return words[lowered]
    # Groups before names: split on commas first, "chr1,chr2;chr3" would become ["chr1", "chr2;chr3"].
    if ";" in text:
        return groups_list(text)
    if "," in text:
        return comma_list(text)
    return text


def parse_options(items: Iterable[str], flag: str = "--option", example: str = "n_pairs=1000",
                  error: type[EpizooError] = EpizooError) -> dict[str, Any]:
    """``KEY=VALUE`` items to a dict of values read by :func:`parse_option_value`; an item without ``=``
    (or without a key) raises ``error`` with one line naming ``flag`` and showing ``example``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise error(f"{flag} {item!r} is not KEY=VALUE; write it as e.g. {flag} {example}")
        options[key.strip()] = parse_option_value(value)
    return options
