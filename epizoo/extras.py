"""Optional dependencies, grouped into the extras of ``pyproject.toml``.

The core install (``pip install epizoo``) builds stores, lists the zoo and benchmarks the sequence
models. Heavier packages come with an extra, and are imported only inside the function that needs
them, through :func:`require`; when one is missing the CLI prints one line naming the extra to
install and exits with status 1 (no traceback):

* ``signals``: xgboost (``xgboost-cpu``), pyBigWig: the TargetFinder XGBoost model, bigWig tracks;
* ``genome``: cooler, pysam: Hi-C contact maps, the bgzip + tabix output of ``epizoo scan``;
* ``explain``: captum, tangermeme, memelite, pyjaspar, logomaker, modisco-lite: ``epizoo explain``;
* ``all``: every one of them.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from epizoo.errors import EpizooError

# module (top level) -> (distribution to name in the message, extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "xgboost": ("xgboost", "signals"),
    "pyBigWig": ("pyBigWig", "signals"),
    "cooler": ("cooler", "genome"),
    "pysam": ("pysam", "genome"),
    "captum": ("captum", "explain"),
    "tangermeme": ("tangermeme", "explain"),
    "memelite": ("memelite", "explain"),
    "pyjaspar": ("pyjaspar", "explain"),
    "logomaker": ("logomaker", "explain"),
    "modiscolite": ("modisco-lite", "explain"),
}


class MissingExtraError(EpizooError, ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def install_hint(extra: str) -> str:
    return f"pip install 'epizoo[{extra}]'"


def require(module: str, extra: str | None = None, *, needed_for: str = "") -> ModuleType:
    """Import ``module`` (e.g. ``"pyBigWig"`` or ``"memelite.io"``), or raise one line that names
    the extra to install. ``extra`` defaults to the one :data:`EXTRAS` lists for the module."""
    top = module.split(".")[0]
    distribution, listed = EXTRAS.get(top, (top, None))
    extra = extra or listed or "all"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or top
        what = f" (for {needed_for})" if needed_for else ""
        detail = "" if missing.split(".")[0] == top else f", which needs the missing module {missing}"
        raise MissingExtraError(
            f"the optional package {distribution}{what} is not installed{detail}; install it with: {install_hint(extra)}"
        ) from None


def check(extra: str, *, needed_for: str = "") -> None:
    """Before slow work: raise :class:`MissingExtraError` if a package of ``extra`` is not installed
    (found without importing it)."""
    for module, (_, listed) in EXTRAS.items():
        if listed == extra and importlib.util.find_spec(module) is None:
            require(module, extra, needed_for=needed_for)
