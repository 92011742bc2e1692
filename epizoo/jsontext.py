"""JSON that is JSON: every ``--json`` output and result file goes through :func:`dumps`.

Python's ``json`` writes ``NaN`` and ``Infinity`` for non-finite floats, which strict readers (``jq``,
JavaScript, ``json.loads(..., parse_constant=...)``) refuse. A metric that is undefined (AUROC of a
fold with one class) is NaN in memory; on disk it is ``null``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (numpy scalars and arrays included) replaced by None,
    recursively through mappings, lists and tuples; numpy values become Python ones."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, np.generic):
        return finite(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(obj: Any, *, default: Callable[[Any], Any] | None = str, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite` ``(obj)``, with ``allow_nan=False`` so that a NaN is an error
    here, never a file that is not JSON. ``default`` (``str`` unless given; None: refuse) turns other
    objects into JSON values, which are made finite too."""
    wrapped = (lambda value: finite(default(value))) if default else None
    return json.dumps(finite(obj), allow_nan=False, default=wrapped, **kwargs)
