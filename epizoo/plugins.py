"""The plugin manager and the registries it fills.

Built-in datasets, splits, encoders and metrics are *default plugins*: modules inside epizoo
registered through the same hooks as third-party code. Models come from entry points of the
``epizoo`` group (the built-in ones from ``plugins/epizoo-zoo``). ``EPIZOO_PLUGINS`` limits which
entry points load: a comma-separated list of names, empty for none, unset for all.
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from epizoo import hookspecs
from epizoo.errors import UnknownNameError

DEFAULT_PLUGINS = (
    "epizoo.datasets.registry",
    "epizoo.splits",
    "epizoo.encoders",
    "epizoo.metrics",
)
ENV_VAR = "EPIZOO_PLUGINS"


@dataclass(frozen=True)
class Registered:
    """A named function registered by a plugin (split, encoder or metric)."""

    name: str
    function: Callable[..., Any]
    description: str = ""
    plugin: str = ""


_manager: pluggy.PluginManager | None = None
load_errors: dict[str, str] = {}  # entry-point name -> one-line reason it failed to load


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_entry_points()
    for ep in entry_points(group="epizoo"):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        pm.register(module, name=ep.name)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager: default plugins, then entry points; misspelt hooks fail loudly."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager("epizoo")
        pm.add_hookspecs(hookspecs)
        for module_name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(module_name), name=module_name)
        _load_entry_points(pm)
        pm.check_pending()
        _manager = pm
    return _manager


def reset() -> None:
    """Forget the manager and registries (tests, or after changing ``EPIZOO_PLUGINS``)."""
    global _manager
    _manager = None
    load_errors.clear()
    _cache.clear()


_cache: dict[str, dict[str, Any]] = {}


def _collect(hook_name: str, make: Callable[..., tuple[str, Any]]) -> dict[str, Any]:
    if hook_name in _cache:
        return _cache[hook_name]
    pm = get_plugin_manager()
    found: dict[str, Any] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin = impl.plugin_name

        def register(*args: Any, _plugin: str = plugin, **kwargs: Any) -> None:
            name, item = make(*args, plugin=_plugin, **kwargs)
            if name in found:
                raise UnknownNameError(
                    f"{hook_name}: name {name!r} is registered twice (by {found[name][1]} and {_plugin}); "
                    "rename one, or disable a plugin with EPIZOO_PLUGINS"
                )
            found[name] = (item, _plugin)

        impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
    _cache[hook_name] = {name: item for name, (item, _plugin) in found.items()}
    return _cache[hook_name]


def _named(name: str, function: Callable[..., Any], description: str = "", *, plugin: str) -> tuple[str, Registered]:
    return name, Registered(name, function, description, plugin)


def _spec(spec: Any, *, plugin: str) -> tuple[str, Any]:
    return spec.name, spec


def get_models() -> dict[str, Any]:
    return _collect("register_models", _spec)


def get_datasets() -> dict[str, Any]:
    return _collect("register_datasets", _spec)


def get_splits() -> dict[str, Registered]:
    return _collect("register_splits", _named)


def get_encoders() -> dict[str, Registered]:
    return _collect("register_encoders", _named)


def get_metrics() -> dict[str, Registered]:
    return _collect("register_metrics", _named)


def _lookup(kind: str, registry: dict[str, Any], name: str, aliases: dict[str, str] | None = None) -> Any:
    key = (aliases or {}).get(name.lower(), name)
    if key in registry:
        return registry[key]
    close = difflib.get_close_matches(name, list(registry) + list(aliases or {}), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(registry)) or 'none'})")


def get_model(name: str) -> Any:
    models = get_models()
    aliases = {alias.lower(): spec.name for spec in models.values() for alias in (spec.name, *spec.aliases)}
    return _lookup("model", models, name, aliases)


def get_dataset(name: str) -> Any:
    return _lookup("dataset", get_datasets(), name)


def get_split(name: str) -> Registered:
    return _lookup("split", get_splits(), name)


def get_encoder(name: str) -> Registered:
    return _lookup("encoder", get_encoders(), name)


def get_metric(name: str) -> Registered:
    return _lookup("metric", get_metrics(), name)
