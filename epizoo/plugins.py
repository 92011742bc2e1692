"""The plugin manager and the registries it fills.

Built-in datasets, splits, encoders and metrics are *default plugins*: modules inside epizoo
registered through the same hooks as third-party code. Models come from entry points of the
``epizoo`` group (the built-in ones from the package ``epizoo_zoo``, shipped in epizoo's own
distribution; source in ``plugins/epizoo-zoo``). ``EPIZOO_PLUGINS`` limits which
entry points load: a comma-separated list of names, empty for none, unset for all.

A plugin that fails to import, or whose registration hook raises, is skipped and reported (in
:data:`load_errors`, and as a warning on stderr). A plugin that breaks the contract (an unknown
hook name, a name registered twice) raises :class:`PluginError`: that is a bug to fix, not to skip.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from epizoo import __version__, console, hookspecs
from epizoo.errors import EpizooError, UnknownNameError
from epizoo.options import comma_list
from epizoo.zoo import ModelSpec

DEFAULT_PLUGINS = (
    "epizoo.datasets.registry",
    "epizoo.splits",
    "epizoo.encoders",
    "epizoo.metrics",
)
ENV_VAR = "EPIZOO_PLUGINS"
GROUP = "epizoo"


class PluginError(EpizooError):
    """A plugin breaks the hook contract (unknown hook, bad arguments, duplicate names)."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name (or an alias clashes with a name)."""


@dataclass(frozen=True)
class Registered:
    """A named function registered by a plugin (split, encoder or metric)."""

    name: str
    function: Callable[..., Any]
    description: str = ""
    plugin: str = ""


_manager: pluggy.PluginManager | None = None
_versions: dict[str, str | None] = {}  # plugin name -> distribution version
_cache: dict[str, dict[str, Any]] = {}
load_errors: dict[str, str] = {}  # plugin name -> one-line reason it was skipped
_warned: set[tuple[str, str]] = set()


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return set(comma_list(value))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _report(plugin: str, message: str) -> None:
    load_errors[plugin] = message


def warn_plugin_problems() -> None:
    """Print each recorded plugin failure once, as one line on stderr."""
    for plugin, message in sorted(load_errors.items()):
        if (plugin, message) not in _warned:
            _warned.add((plugin, message))
            console.stderr.print(f"warning: plugin {plugin!r} skipped: {message}", markup=False, highlight=False, soft_wrap=True)


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register one plugin; contract violations raise PluginError naming the plugin."""
    try:
        pm.register(plugin, name=name)
    except ValueError as exc:  # pluggy: name or object already registered
        raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from None
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} is invalid: {_one_line(exc)}; fix it or leave it out with {ENV_VAR}") from None
    _check_hook_names(pm, name)


def _check_hook_names(pm: pluggy.PluginManager, name: str) -> None:
    """Fail loudly on a misspelt hook, naming the plugin, the hook and the likely intended one."""
    known = [hook for hook in dir(hookspecs) if hook.startswith("register_")]
    for hook_name, caller in vars(pm.hook).items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin_name == name and not impl.opts.get("optionalhook"):
                pm.unregister(name=name)
                close = difflib.get_close_matches(hook_name, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise PluginError(
                    f"plugin {name!r} implements unknown hook {hook_name!r}{hint}; "
                    f"rename it, or leave the plugin out with {ENV_VAR}"
                )


def _load_default_plugins(pm: pluggy.PluginManager) -> None:
    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # keep the CLI usable while one area is broken
            _report(module_name, _one_line(exc))
            continue
        _register(pm, module, module_name)
        _versions[module_name] = __version__


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_entry_points()
    installed = sorted(entry_points(group=GROUP), key=lambda ep: ep.name)  # a stable order
    for missing in sorted((allowed or set()) - {ep.name for ep in installed}):
        names = ", ".join(ep.name for ep in installed) or "none"
        _report(missing, f"named in {ENV_VAR} but not installed (installed plugins: {names})")
    for ep in installed:
        if (allowed is not None and ep.name not in allowed) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            _report(ep.name, _one_line(exc))
            continue
        _register(pm, module, ep.name)
        _versions[ep.name] = ep.dist.version if ep.dist is not None else None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager: default plugins, then entry points; misspelt hooks fail loudly."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager(GROUP)
        pm.add_hookspecs(hookspecs)
        _load_default_plugins(pm)
        _load_entry_points(pm)
        pm.check_pending()
        _manager = pm
    return _manager


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Add a plugin at run time (tests, notebooks); returns its name. Registries are rebuilt."""
    pm = get_plugin_manager()
    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    _register(pm, plugin, name)
    _versions[name] = getattr(plugin, "__version__", None)
    _cache.clear()
    return name


def reset() -> None:
    """Forget the manager and registries (tests, or after changing ``EPIZOO_PLUGINS``)."""
    global _manager
    _manager = None
    load_errors.clear()
    _versions.clear()
    _cache.clear()
    _warned.clear()


def list_plugins() -> list[dict[str, Any]]:
    """Loaded plugins: name, version, hooks implemented, module, whether default, and any error."""
    pm = get_plugin_manager()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        rows.append(
            {
                "name": name,
                "version": _versions.get(name),
                "hooks": hooks,
                "module": module,
                "default": name in DEFAULT_PLUGINS,
                "error": load_errors.get(name),
            }
        )
    return sorted(rows, key=lambda row: (not row["default"], row["name"]))


def failed_plugins() -> list[dict[str, Any]]:
    """Plugins that could not be imported: name and the one-line error."""
    loaded = {name for name, _plugin in get_plugin_manager().list_name_plugin()}
    return [{"name": name, "error": error} for name, error in sorted(load_errors.items()) if name not in loaded]


def load_all() -> None:
    """Run every registration hook, so that all plugin failures are known."""
    for collect in (get_models, get_datasets, get_splits, get_encoders, get_metrics):
        collect()


# --- registries ---------------------------------------------------------------------------------


def _collect(hook_name: str, make: Callable[..., tuple[list[str], Any]]) -> dict[str, Any]:
    """Call each plugin's ``hook_name(register)``; a plugin whose hook raises is skipped whole."""
    if hook_name in _cache:
        return _cache[hook_name]
    pm = get_plugin_manager()
    found: dict[str, tuple[str, Any]] = {}  # primary name -> (plugin, item)
    keys: dict[str, tuple[str, str]] = {}  # lower-cased name or alias -> (plugin, primary name)
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order
        try:
            found_here = _call_register_hook(impl, make, keys, hook_name)
        except DuplicateNameError:
            raise
        except Exception as exc:  # a plugin bug: skip its registrations from this hook
            _report(impl.plugin_name, f"{hook_name} failed: {_one_line(exc)}")
            continue
        for key, (plugin, name, item) in found_here.items():
            keys[key] = (plugin, name)
            found.setdefault(name, (plugin, item))
    _cache[hook_name] = {name: item for name, (_plugin, item) in found.items()}
    return _cache[hook_name]


def _call_register_hook(impl: Any, make: Callable, keys: dict[str, tuple[str, str]], hook_name: str) -> dict:
    """Call one hook implementation; returns key -> (plugin, primary name, item) for what it registered."""
    plugin = impl.plugin_name
    here: dict[str, tuple[str, str, Any]] = {}

    def register(*args: Any, **kwargs: Any) -> None:
        names, item = make(*args, plugin=plugin, **kwargs)
        for key in (n.lower() for n in names):
            other = keys.get(key) or (here[key][:2] if key in here else None)
            if other is not None:
                raise DuplicateNameError(
                    f"{hook_name}: {key!r} is registered by plugin {other[0]!r} (as {other[1]!r}) and again by "
                    f"plugin {plugin!r} (for {names[0]!r}); rename one, or leave a plugin out with {ENV_VAR}"
                )
        for key in (n.lower() for n in names):
            here[key] = (plugin, names[0], item)

    impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
    return here


def _named(name: str, function: Callable[..., Any], description: str = "", *, plugin: str) -> tuple[list[str], Registered]:
    if not isinstance(name, str) or not name or not callable(function):
        raise TypeError(f"register(name, function, description) needs a name and a callable, got {name!r}, {function!r}")
    return [name], Registered(name, function, description, plugin)


def _model(spec: ModelSpec, *, plugin: str) -> tuple[list[str], ModelSpec]:
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register_models: register() takes an epizoo.zoo.ModelSpec, got {type(spec).__name__}")
    if spec.kind not in ("torch", "sklearn"):
        raise ValueError(f"model {spec.name!r}: kind must be 'torch' or 'sklearn', not {spec.kind!r}")
    return [spec.name, *spec.aliases], spec


def _dataset(spec: Any, *, plugin: str) -> tuple[list[str], Any]:
    if not isinstance(getattr(spec, "name", None), str):
        raise TypeError(f"register_datasets: register() takes a DatasetSpec with a name, got {type(spec).__name__}")
    return [spec.name], spec


def get_models() -> dict[str, ModelSpec]:
    """Every registered model by primary name (aliases resolve through :func:`get_model`)."""
    return _collect("register_models", _model)


def get_datasets() -> dict[str, Any]:
    return _collect("register_datasets", _dataset)


def get_splits() -> dict[str, Registered]:
    return _collect("register_splits", _named)


def get_encoders() -> dict[str, Registered]:
    return _collect("register_encoders", _named)


def get_metrics() -> dict[str, Registered]:
    return _collect("register_metrics", _named)


def _lookup(kind: str, registry: dict[str, Any], name: str, aliases: dict[str, str] | None = None) -> Any:
    aliases = aliases or {key.lower(): key for key in registry}
    key = aliases.get(str(name).lower())
    if key in registry:
        return registry[key]
    close = difflib.get_close_matches(str(name).lower(), list(aliases), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(aliases[c] if c in registry else c for c in close)}?" if close else ""
    known = ", ".join(sorted(registry)) or "none (is the plugin that provides it installed?)"
    raise UnknownNameError(f"unknown {kind} {name!r}{hint} (known: {known})")


def model_aliases() -> dict[str, str]:
    """Lower-cased name or alias -> primary model name."""
    return {key.lower(): spec.name for spec in get_models().values() for key in (spec.name, *spec.aliases)}


def get_model(name: str) -> ModelSpec:
    """A model by name or alias, case-insensitively; an unknown name suggests close ones."""
    return _lookup("model", get_models(), name, model_aliases())


def find_models(pattern: str) -> list[ModelSpec]:
    """Models whose name or an alias matches the shell-style ``pattern`` (case-insensitive)."""
    pattern = pattern.lower()
    return [
        spec
        for spec in get_models().values()
        if any(fnmatch.fnmatchcase(key.lower(), pattern) for key in (spec.name, *spec.aliases))
    ]


def get_dataset(name: str) -> Any:
    return _lookup("dataset", get_datasets(), name)


def get_split(name: str) -> Registered:
    return _lookup("split", get_splits(), name)


def get_encoder(name: str) -> Registered:
    return _lookup("encoder", get_encoders(), name)


def get_metric(name: str) -> Registered:
    return _lookup("metric", get_metrics(), name)


# --- commands -----------------------------------------------------------------------------------


def add_plugin_commands(cli: Any) -> None:
    """Let plugins add commands to ``cli``; report problems when a command runs, never crash here."""
    try:
        pm = get_plugin_manager()
    except EpizooError:
        pm = None  # raised again, as one line, when a command runs (see _check_plugins_first)
    if pm is not None:
        for impl in pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(**{arg: cli for arg in impl.argnames if arg == "cli"})
            except Exception as exc:
                _report(impl.plugin_name, f"register_commands failed: {_one_line(exc)}")
    _check_plugins_first(cli)


def _check_plugins_first(cli: Any) -> None:
    """Before any command: load plugins (a contract violation stops here) and print warnings."""
    import click

    callback = cli.callback

    def checked(*args: Any, **kwargs: Any) -> Any:
        get_plugin_manager()
        warn_plugin_problems()
        click.get_current_context().call_on_close(warn_plugin_problems)
        return callback(*args, **kwargs) if callback else None

    checked.__doc__ = callback.__doc__ if callback else None
    cli.callback = checked
