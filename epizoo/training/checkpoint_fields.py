"""What a checkpoint records about its model: the fields of ``checkpoint.json`` that rebuild it.

Written by the bench (``epizoo.bench.task``) and ``train-contacts`` (``epizoo.training.contact``),
read back by :mod:`epizoo.inference`; it sits below all three so that none imports another for it.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

from epizoo import __version__
from epizoo.training.checkpoint import CHECKPOINT_FORMAT


def _signature_defaults(factory: Any) -> tuple[dict[str, Any], bool]:
    """The factory's keyword defaults, and whether it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return {}, True
    defaults = {
        p.name: p.default for p in parameters
        if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return defaults, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _as_json(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists); raises TypeError/ValueError when it is not JSON."""
    return json.loads(json.dumps(value, allow_nan=True))


def resolved_hparams(spec: Any, hparams: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every hyperparameter the factory was called with, its signature's defaults included, as JSON;
    and the names left out (``pretrained_embedding``, whose vectors are in the weights, and any value
    JSON cannot hold, which a load takes from the factory's default)."""
    defaults, _ = _signature_defaults(spec.factory)
    merged = {**defaults, **hparams}
    recorded, left_out = {}, []
    for name, value in merged.items():
        if name == "pretrained_embedding":
            left_out.append(name)
            continue
        try:
            recorded[name] = _as_json(value)
        except (TypeError, ValueError):
            left_out.append(name)
    return recorded, left_out


def plugin_version(spec: Any) -> dict[str, Any]:
    """The distribution that provides ``spec`` and its version (from the entry point that loads its
    module, else the installed package of its module), or the module's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, version

    from epizoo.plugins import GROUP

    module = str(getattr(spec.factory, "__module__", "") or "")
    top = module.split(".")[0]
    if top:
        for ep in entry_points(group=GROUP):
            if ep.module.split(".")[0] == top and ep.dist is not None:
                return {"module": module, "distribution": ep.dist.name, "version": ep.dist.version}
        for name in packages_distributions().get(top, []):
            try:
                return {"module": module, "distribution": name, "version": version(name)}
            except PackageNotFoundError:
                continue
    package = sys.modules.get(top)
    return {"module": module, "distribution": None, "version": getattr(package, "__version__", None)}


def checkpoint_model_fields(spec: Any, hparams: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``checkpoint.json`` that rebuild the model (``hparams``: those it was built with)."""
    recorded, left_out = resolved_hparams(spec, hparams)
    return {
        "format": CHECKPOINT_FORMAT,
        "epizoo_version": __version__,
        "model": spec.name,
        "kind": spec.kind,
        "input_encoding": spec.input_encoding,
        "enhancer_length": int(recorded.get("enhancer_length", spec.enhancer_length)),
        "promoter_length": int(recorded.get("promoter_length", spec.promoter_length)),
        "plugin": plugin_version(spec),
        "hparams": recorded,
        "hparams_not_recorded": left_out,
    }
