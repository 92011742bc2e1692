"""What ``epizoo models``, ``datasets`` and ``plugins`` list, without importing the models (and torch).

Loading the plugins imports every model module, and with them torch and scikit-learn: seconds, for
a listing. The first listing in a process that has not loaded the plugins therefore keeps what it
found in a small JSON file (the model records of :func:`epizoo.docs_gen.model_record`, made from
each plugin's :class:`~epizoo.zoo.ModelSpec`, which stays the one source of truth; the datasets;
the plugins and their load errors), and later listings read it back.

The file is named by a fingerprint of everything the listing depends on: epizoo's version, the
installed ``epizoo`` entry points with their distributions' versions, ``EPIZOO_PLUGINS``, and the
size and modification time of every Python file of epizoo and of the packages that provide the
entry points (an editable install changes without a version). Any change gives a new name, so a
stale listing is never shown; the next listing rebuilds it. A process that has already loaded the
plugins (a plugin registered at run time, a notebook) lists its live registry instead. The folder
is ``EPIZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/epizoo``, else ``~/.cache/epizoo``; when it cannot
be written the listing is simply not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from epizoo.files import write_text

CACHE_ENV = "EPIZOO_CACHE_DIR"
PREFIX = "registry-"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "epizoo"


def _package_dirs() -> list[Path]:
    """epizoo's folder and those of the top-level packages that provide ``epizoo`` entry points,
    found without importing them."""
    import importlib.util
    from importlib.metadata import entry_points

    import epizoo
    from epizoo.plugins import GROUP

    folders = {Path(epizoo.__file__).parent}
    for ep in entry_points(group=GROUP):
        top = ep.module.split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue  # not importable: the listing reports it, and the entry point is in the fingerprint
        if spec is not None and spec.submodule_search_locations:
            folders.update(Path(location) for location in spec.submodule_search_locations)
        elif spec is not None and spec.origin:
            folders.add(Path(spec.origin))
    return sorted(folders)


def fingerprint() -> str:
    from importlib.metadata import entry_points

    from epizoo import __version__
    from epizoo.plugins import ENV_VAR, GROUP

    digest = hashlib.sha256()
    digest.update(f"{__version__}|{sys.version}|{os.environ.get(ENV_VAR)}\n".encode())
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value)):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
        digest.update(f"{ep.name}={ep.value} {dist}\n".encode())
    for folder in _package_dirs():
        files = [folder] if folder.is_file() else sorted(folder.rglob("*.py"))
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _path(key: str) -> Path:
    return cache_dir() / f"{PREFIX}{key}.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("models"), list) else None


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, and remove listings of other fingerprints; silent when the folder is not writable."""
    from epizoo.jsontext import dumps

    try:
        write_text(path, dumps(data))
        for old in path.parent.glob(f"{PREFIX}*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _live(parameters: bool) -> dict[str, Any]:
    """The listing from the loaded plugins (imports them all)."""
    from epizoo import docs_gen, plugins

    plugins.load_all()
    models = sorted(plugins.get_models().values(), key=lambda spec: spec.name)
    return {
        "plugins": plugins.list_plugins(),
        "failed": plugins.failed_plugins(),
        "load_errors": dict(plugins.load_errors),
        "datasets": [
            {"name": spec.name, "description": spec.description, "variants": list(spec.variants),
             "default_variant": spec.default_variant, "genome_build": spec.genome_build}
            for spec in plugins.get_datasets().values()
        ],
        "models": [docs_gen.model_record(spec, _parameters(spec) if parameters else None) for spec in models],
        "parameters": parameters,
    }


def _parameters(spec: Any) -> int | None:
    """Trainable parameters; a model that cannot be built is reported and listed without a count."""
    from epizoo import console, docs_gen

    try:
        return docs_gen.count_parameters(spec)
    except Exception as exc:
        message = f"warning: model {spec.name!r} could not be built: {type(exc).__name__}: {exc}"
        console.stderr.print(" ".join(message.split()), markup=False, highlight=False, soft_wrap=True)
        return None


def listing(parameters: bool = False) -> dict[str, Any]:
    """Plugins, failed plugins, datasets and model records (with parameter counts when asked): from
    the cache when it is current, else from the plugins, then kept."""
    from epizoo import plugins

    if plugins._manager is not None:  # already loaded here: the live registry may hold run-time plugins
        return _live(parameters)
    path = _path(fingerprint())
    cached = _read(path)
    if cached is not None and (cached.get("parameters") or not parameters):
        plugins.load_errors.update(cached.get("load_errors") or {})  # warned once the command ends, as when loading
        return cached
    fresh = _live(parameters or bool(cached and cached.get("parameters")))
    _write(path, fresh)
    return fresh


# ---- models from their records ----------------------------------------------------------------
def _not_buildable(**_: Any) -> Any:
    from epizoo.errors import EpizooError

    raise EpizooError("this model spec was read from the cached model listing; build models with epizoo.plugins.get_model")


def spec_of(record: dict[str, Any]) -> Any:
    """A ModelSpec with the record's metadata, for display (its factory refuses to build)."""
    from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

    return ModelSpec(
        name=record["name"], factory=_not_buildable, card=ModelCard(**record["card"]), recipe=TrainingRecipe(**record["recipe"]),
        input_encoding=record["input_encoding"], kind=record["kind"], aliases=tuple(record["aliases"]),
        enhancer_length=record["enhancer_length"], promoter_length=record["promoter_length"],
        default_hparams=record["default_hparams"], tiny_hparams=record["tiny_hparams"], demo_hparams=record["demo_hparams"],
        demo_recipe=record["demo_recipe"], published_parameters=record["published_parameters"],
        uses_pretrained_embedding=record["uses_pretrained_embedding"], task=record["task"], tracks=tuple(record["tracks"]),
        inputs=tuple(record["inputs"]),
    )


def find_record(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """A model's record by name or alias, case-insensitively; an unknown name suggests close ones,
    with :func:`epizoo.plugins.get_model`'s message."""
    from epizoo.plugins import _lookup

    by_name = {record["name"]: record for record in records}
    aliases = {key.lower(): record["name"] for record in records for key in (record["name"], *record["aliases"])}
    return _lookup("model", by_name, name, aliases)


def matching_records(records: list[dict[str, Any]], pattern: str) -> list[dict[str, Any]]:
    """Records whose name or an alias matches the shell-style ``pattern`` (as :func:`epizoo.plugins.find_models`)."""
    import fnmatch

    pattern = pattern.lower()
    return [r for r in records if any(fnmatch.fnmatchcase(key.lower(), pattern) for key in (r["name"], *r["aliases"]))]
