"""Checkpoints: the one module that writes them, reads them and rebuilds their model.

A checkpoint is a folder: the weights as safetensors (torch) or joblib (scikit-learn), the fold's
train/valid/test pair indices (``sides.npz``), and ``checkpoint.json``, which holds the model
card, the full resolved hyperparameters, the encoder and window lengths, the plugin and its
version, the epizoo version, the recipe actually used, the split and fold, the store's provenance
and the metrics, so that a checkpoint explains itself without the run that made it. Files are
written into place (:mod:`epizoo.files`), so a crash never leaves a half-written checkpoint.

``manifest.json``, written last, records each file's size and sha256 (as a store's manifest does),
and every read checks it: a flipped bit in the weights or an edited window length in the JSON
would otherwise change every score without a word. A checkpoint from before manifests loads with
a one-line warning.

:class:`Checkpoint` is what a reader gets: the recorded fields, checked, with :meth:`Checkpoint.build`
to rebuild the model and :meth:`Checkpoint.sides` for the recorded fold. The bench, ``train-contacts``,
``predict``, ``scan`` and ``explain`` all go through it.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from epizoo import __version__, console
from epizoo.errors import EpizooError, InputFileError, UnknownNameError
from epizoo.files import into_place, write_text
from epizoo.jsontext import dumps
from epizoo.plugins import GROUP, get_model
from epizoo.sources.genome import file_sha256
from epizoo.zoo import ModelSpec

WEIGHTS = "weights.safetensors"
ESTIMATOR = "estimator.joblib"
DESCRIPTION = "checkpoint.json"
MANIFEST = "manifest.json"
SIDES = "sides.npz"  # the fold's train, valid and test pair indices, as the bench planned them
CHECKED = (WEIGHTS, ESTIMATOR, DESCRIPTION, SIDES)  # the files a manifest lists
WINDOW_KINDS = ("enhancer", "promoter")
_warned_unsealed: set[Path] = set()  # warn once per checkpoint folder, not once per load
# The layout of checkpoint.json. 1: no "format" key (the hyperparameters held only overrides of the
# factory's defaults). 2: the full resolved hyperparameters, the model's kind, encoder, window
# lengths and plugin version, the epizoo version and the split. A reader refuses a newer format.
CHECKPOINT_FORMAT = 2


# ---- what a checkpoint records about its model ---------------------------------------------------
def _signature_defaults(factory: Any) -> dict[str, Any]:
    """The factory's keyword defaults."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return {}
    return {
        p.name: p.default for p in parameters
        if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _as_json(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists); raises TypeError/ValueError when it is not JSON."""
    return json.loads(json.dumps(value, allow_nan=True))


def resolved_hparams(spec: ModelSpec, hparams: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every hyperparameter the factory was called with, its signature's defaults included, as JSON;
    and the names left out (``pretrained_embedding``, whose vectors are in the weights, and any value
    JSON cannot hold, which a load takes from the factory's default)."""
    merged = {**_signature_defaults(spec.factory), **hparams}
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


def plugin_version(spec: ModelSpec) -> dict[str, Any]:
    """The distribution that provides ``spec`` and its version (from the entry point that loads its
    module, else the installed package of its module), or the module's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, version

    module = str(getattr(spec.factory, "__module__", "") or "")  # any callable: a lambda or partial has none
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


def checkpoint_model_fields(spec: ModelSpec, hparams: dict[str, Any]) -> dict[str, Any]:
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


def model_windows(spec: ModelSpec, description: dict[str, Any]) -> dict[str, int]:
    """The enhancer and promoter window lengths (bp) a checkpoint's model reads: the checkpoint's own,
    else its hyperparameters', else the spec's. The one place that resolves them."""
    hparams = description.get("hparams") or {}
    return {
        kind: int(description.get(f"{kind}_length") or hparams.get(f"{kind}_length") or getattr(spec, f"{kind}_length"))
        for kind in WINDOW_KINDS
    }


# ---- writing -------------------------------------------------------------------------------------
def save_checkpoint(directory: Path, description: dict[str, Any], state: dict[str, Any] | None = None, estimator: Any = None,
                    sides: dict[str, Any] | None = None) -> None:
    """Write the weights (``state`` or ``estimator``), the fold's ``sides`` (name -> pair indices),
    then the JSON description into ``directory``, and seal them with the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # an overwrite in progress must not pass as the old, sealed one
    if state is not None:
        from safetensors.torch import save_file

        with into_place(directory / WEIGHTS) as tmp:
            # safetensors refuses shared or non-contiguous storage: save independent copies.
            save_file({name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}, str(tmp))
    if estimator is not None:
        import joblib

        with into_place(directory / ESTIMATOR) as tmp:
            joblib.dump(estimator, tmp)
    if sides is not None:
        with into_place(directory / SIDES) as tmp, open(tmp, "wb") as handle:  # a handle: np.savez would add .npz to a path
            np.savez(handle, **{name: np.asarray(pairs, dtype=np.int64) for name, pairs in sides.items()})
    write_text(directory / DESCRIPTION, dumps(description, indent=2) + "\n")
    write_checkpoint_manifest(directory)


def write_checkpoint_manifest(directory: str | os.PathLike) -> None:
    """Record the size and sha256 of the checkpoint's files (its last write; call it again after
    editing a checkpoint on purpose)."""
    directory = Path(directory)
    files = {name: [(directory / name).stat().st_size, file_sha256(directory / name)]
             for name in CHECKED if (directory / name).is_file()}
    write_text(directory / MANIFEST, json.dumps({"algorithm": "sha256", "files": files}, indent=0, sort_keys=True) + "\n")


# ---- reading -------------------------------------------------------------------------------------
def verify_checkpoint(directory: str | os.PathLike) -> None:
    """Refuse, in one line, a checkpoint whose files differ from its manifest (corrupted or edited)."""
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        _warn_unsealed(directory)
        return
    fix = "rerun the task that wrote it, or copy it again"
    try:
        files = json.loads((directory / MANIFEST).read_text())["files"]
        listed = {str(name): (int(size), str(digest)) for name, (size, digest) in files.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise InputFileError(f"checkpoint {directory} has an unreadable {MANIFEST}; {fix}") from None
    for name in CHECKED:
        if name not in listed and (directory / name).is_file():
            raise InputFileError(f"checkpoint {directory} holds {name}, which its {MANIFEST} does not list (added later?); {fix}")
    for name, (size, digest) in listed.items():
        path = directory / name
        if not path.is_file():
            raise InputFileError(f"checkpoint {directory} is damaged: {name} is missing; {fix}")
        if path.stat().st_size != size or file_sha256(path) != digest:
            raise InputFileError(f"checkpoint {directory} is damaged or was edited: {name} does not match its checksum in {MANIFEST}; {fix}")


def _warn_unsealed(directory: Path) -> None:
    """A checkpoint written before manifests: load it (runs must keep working), but say it is unchecked."""
    key = directory.resolve()
    if key in _warned_unsealed:
        return
    _warned_unsealed.add(key)
    console.stderr.print(f"warning: checkpoint {directory} has no {MANIFEST} (written by an older epizoo), so its files "
                         "cannot be checked for corruption", markup=False, highlight=False, soft_wrap=True)


def _read_description(directory: Path) -> dict[str, Any]:
    described = directory / DESCRIPTION
    if not described.is_file():
        raise InputFileError(f"no checkpoint in {directory}: {DESCRIPTION} is missing; pick a finished task's checkpoint folder")
    try:
        description = json.loads(described.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise InputFileError(f"{described} is unreadable ({reason}); pick a finished task's checkpoint folder") from None
    if not isinstance(description, dict):
        raise InputFileError(f"{described} is not an epizoo checkpoint description; pick a finished task's checkpoint folder")
    return description


def _read_weights(directory: Path) -> Any:
    """The state dict (torch) or fitted estimator (scikit-learn); a pickle: load only checkpoints you trust."""
    if (directory / WEIGHTS).is_file():
        from safetensors.torch import load_file

        return load_file(str(directory / WEIGHTS))
    if (directory / ESTIMATOR).is_file():
        import joblib

        return joblib.load(directory / ESTIMATOR)
    raise InputFileError(f"checkpoint {directory} has no weights ({WEIGHTS} or {ESTIMATOR}); rerun the task")


def load_checkpoint(directory: Path) -> tuple[dict[str, Any], Any]:
    """The JSON description and the weights: a state dict (torch) or a fitted estimator (sklearn),
    checked against the manifest. The estimator file is a pickle: load only checkpoints you trust."""
    directory = Path(directory)
    description = _read_description(directory)
    verify_checkpoint(directory)
    return description, _read_weights(directory)


def store_identity(attrs: Mapping[str, Any]) -> str:
    """What ties a run or a checkpoint to its store: the store's build time and its sources' hashes
    (from a store's attributes, or the store record of a checkpoint), not its path."""
    return " ".join(str(attrs.get(key, "")) for key in ("created", "sequence_sha256", "signal_sha256")).strip()


def load_sides(directory: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The fold's recorded sides (train, valid, test pair indices); None for a checkpoint written
    before they were recorded. Checked against the manifest first."""
    directory = Path(directory)
    if not (directory / SIDES).is_file():
        return None
    verify_checkpoint(directory)
    with np.load(directory / SIDES) as recorded:
        return {name: recorded[name] for name in recorded.files}


def _folder(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_file() and path.name == DESCRIPTION:
        return path.parent
    if not path.exists():
        raise InputFileError(f"checkpoint {path} does not exist; give a folder under RUN/checkpoints/MODEL/CELL/FOLD")
    return path


def _check_format(folder: Path, description: dict[str, Any]) -> None:
    found = description.get("format", 1)
    if not isinstance(found, int) or isinstance(found, bool):
        raise InputFileError(f"checkpoint {folder} has an unreadable format {found!r}; pick a checkpoint written by epizoo bench")
    if found > CHECKPOINT_FORMAT:
        made_by = description.get("epizoo_version", "a newer epizoo")
        raise InputFileError(
            f"checkpoint {folder} has format {found}, newer than this epizoo {__version__} reads (up to {CHECKPOINT_FORMAT}); "
            f"it was written by epizoo {made_by}: upgrade epizoo to load it"
        )


def _installed_spec(folder: Path, description: dict[str, Any]) -> ModelSpec:
    name = description.get("model")
    if not isinstance(name, str) or not name:
        raise InputFileError(f"checkpoint {folder} names no model; pick a checkpoint written by epizoo bench")
    try:
        return get_model(name)
    except UnknownNameError:
        plugin = description.get("plugin") or {}
        provider = plugin.get("distribution")
        hint = f"install {provider} {plugin.get('version') or ''}".rstrip() if provider else "install the plugin that provides it"
        raise UnknownNameError(
            f"checkpoint {folder} holds model {name!r}, which is not installed; {hint} (or check EPIZOO_PLUGINS)"
        ) from None


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint folder as read and checked (format, manifest, installed model): what the model
    is and saw. :meth:`read` makes one; :meth:`build` rebuilds its model; :meth:`sides` gives the
    recorded fold.

    ``windows`` (``{"enhancer": bp, "promoter": bp}``) are the lengths the model was trained on:
    the checkpoint's own, never the spec's defaults unless the checkpoint records none.
    """

    folder: Path
    spec: ModelSpec
    description: dict[str, Any] = field(repr=False)
    windows: dict[str, int]

    @classmethod
    def read(cls, path: str | os.PathLike) -> Checkpoint:
        """Read the checkpoint at ``path`` (its folder or its ``checkpoint.json``), refusing in one
        line a damaged one, a newer format or a model that is not installed."""
        folder = _folder(path)
        description = _read_description(folder)
        _check_format(folder, description)  # before the weights: a newer checkpoint may store them differently
        verify_checkpoint(folder)
        spec = _installed_spec(folder, description)
        return cls(folder, spec, description, model_windows(spec, description))

    model = property(lambda self: self.spec.name)
    kind = property(lambda self: self.description.get("kind", self.spec.kind))
    encoder = property(lambda self: self.description.get("input_encoding") or self.spec.input_encoding)
    hparams = property(lambda self: dict(self.description.get("hparams") or {}))
    plugin = property(lambda self: dict(self.description.get("plugin") or {}))
    fold = property(lambda self: dict(self.description.get("fold") or {}))
    store = property(lambda self: dict(self.description.get("store") or {}))

    @property
    def store_identity(self) -> str:
        """What ties the checkpoint to the store it was trained on (:func:`store_identity`)."""
        return store_identity(self.store)

    def sides(self) -> dict[str, np.ndarray] | None:
        """The fold's train, valid and test pair indices as the bench recorded them (None before they were)."""
        return load_sides(self.folder)

    def build(self, device: Any = "cpu") -> Any:
        """The trained model: a torch module in eval mode on ``device``, or the fitted estimator."""
        try:
            weights = _read_weights(self.folder)
        except EpizooError:
            raise
        except Exception as exc:  # noqa: BLE001: a truncated or foreign weights file
            raise InputFileError(f"checkpoint {self.folder} has unreadable weights ({type(exc).__name__}); rerun the task that wrote it") from None
        return _rebuild(self, weights, device)

    def factory_arguments(self) -> dict[str, Any]:
        """The recorded hyperparameters, less those equal to the factory's current defaults (which then
        keep their own type, e.g. a tuple that JSON made a list)."""
        recorded = self.description.get("hparams") or {}
        if not isinstance(recorded, dict):
            raise EpizooError("its hparams are not a mapping")
        defaults = _signature_defaults(self.spec.factory)
        arguments = {}
        for name, value in recorded.items():
            if name in defaults:
                try:
                    if _as_json(defaults[name]) == value:
                        continue
                except (TypeError, ValueError):
                    pass
            arguments[name] = value
        if self.spec.uses_pretrained_embedding:
            arguments["pretrained_embedding"] = None  # the trained vectors come with the weights
        return arguments


def _rebuild(checkpoint: Checkpoint, weights: Any, device: Any) -> Any:
    spec, folder = checkpoint.spec, checkpoint.folder
    installed = plugin_version(spec).get("version")
    versions = f"{spec.name} {installed or '(version unknown)'} installed, {checkpoint.plugin.get('version') or 'unknown'} in the checkpoint"
    if checkpoint.kind != spec.kind:
        raise EpizooError(f"checkpoint {folder} holds a {checkpoint.kind} model but the installed {spec.name} is a {spec.kind} model ({versions})")
    if spec.kind == "sklearn":
        if isinstance(weights, dict):
            raise InputFileError(f"checkpoint {folder} holds torch weights, not the fitted estimator of {spec.name}")
        return weights
    if not isinstance(weights, dict):
        raise InputFileError(f"checkpoint {folder} holds a fitted estimator, not the torch weights of {spec.name}")
    import torch

    try:
        arguments = checkpoint.factory_arguments()
        with torch.random.fork_rng(devices=[]):  # the initial weights are replaced: leave the caller's RNG alone
            module = spec.factory(**arguments)
        module.load_state_dict(weights)
    except Exception as exc:  # noqa: BLE001: any mismatch between the checkpoint and the installed model
        text = " ".join(str(exc).split())
        reason = text[:200] + ("..." if len(text) > 200 else "")
        raise EpizooError(
            f"checkpoint {folder} does not fit the installed {spec.name} ({versions}): {type(exc).__name__}: {reason}"
        ) from None
    if checkpoint.description.get("embedding_source") and hasattr(module, "embedding_source"):
        module.embedding_source = checkpoint.description["embedding_source"]
    return module.to(device).eval()


def load_checkpoint_model(path: str | os.PathLike, device: Any = "cpu") -> tuple[Any, ModelSpec, dict[str, Any]]:
    """(model, spec, description) of the checkpoint at ``path``: :meth:`Checkpoint.build` with the
    spec and ``checkpoint.json`` beside it."""
    checkpoint = Checkpoint.read(path)
    return checkpoint.build(device), checkpoint.spec, checkpoint.description
