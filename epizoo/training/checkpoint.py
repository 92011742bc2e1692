"""Checkpoints: weights as safetensors (torch) or joblib (scikit-learn) beside a JSON description.

The JSON holds the model card, hyperparameters, the recipe actually used, the fold, the store's
provenance and the metrics, so a checkpoint explains itself without the run that made it. Files
are written under temporary names and renamed, so a crash never leaves a half-written checkpoint.

``manifest.json``, written last, records each file's size and sha256 (as a store's manifest does),
and every load checks it: a flipped bit in the weights or an edited window length in the JSON
would otherwise change every score without a word. A checkpoint from before manifests loads with
a one-line warning.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from epizoo.errors import InputFileError
from epizoo.jsontext import dumps
from epizoo.genome import file_sha256

WEIGHTS = "weights.safetensors"
ESTIMATOR = "estimator.joblib"
DESCRIPTION = "checkpoint.json"
MANIFEST = "manifest.json"
SIDES = "sides.npz"  # the fold's train, valid and test pair indices, as the bench planned them
CHECKED = (WEIGHTS, ESTIMATOR, DESCRIPTION, SIDES)  # the files a manifest lists
_warned_unsealed: set[Path] = set()  # warn once per checkpoint folder, not once per load
# The layout of checkpoint.json. 1: no "format" key (the hyperparameters held only overrides of the
# factory's defaults). 2: the full resolved hyperparameters, the model's kind, encoder, window
# lengths and plugin version, the epizoo version and the split. A reader refuses a newer format.
CHECKPOINT_FORMAT = 2


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(directory: Path, description: dict[str, Any], state: dict[str, torch.Tensor] | None = None, estimator: Any = None,
                    sides: dict[str, Any] | None = None) -> None:
    """Write the weights (``state`` or ``estimator``), the fold's ``sides`` (name -> pair indices),
    then the JSON description into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # an overwrite in progress must not pass as the old, sealed one
    if state is not None:
        tmp = directory / f".{WEIGHTS}.tmp"
        # safetensors refuses shared or non-contiguous storage: save independent copies.
        save_file({name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}, str(tmp))
        os.replace(tmp, directory / WEIGHTS)
    if estimator is not None:
        tmp = directory / f".{ESTIMATOR}.tmp"
        joblib.dump(estimator, tmp)
        os.replace(tmp, directory / ESTIMATOR)
    if sides is not None:
        tmp = directory / f".{SIDES}.tmp"
        with open(tmp, "wb") as handle:  # a handle: np.savez would add .npz to a path
            np.savez(handle, **{name: np.asarray(pairs, dtype=np.int64) for name, pairs in sides.items()})
        os.replace(tmp, directory / SIDES)
    atomic_write_text(directory / DESCRIPTION, dumps(description, indent=2) + "\n")
    write_checkpoint_manifest(directory)


def load_sides(directory: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The fold's recorded sides (train, valid, test pair indices); None for a checkpoint written
    before they were recorded. Checked against the manifest first."""
    directory = Path(directory)
    if not (directory / SIDES).is_file():
        return None
    verify_checkpoint(directory)
    with np.load(directory / SIDES) as recorded:
        return {name: recorded[name] for name in recorded.files}


def write_checkpoint_manifest(directory: str | os.PathLike) -> None:
    """Record the size and sha256 of the checkpoint's files (its last write; call it again after
    editing a checkpoint on purpose)."""
    directory = Path(directory)
    files = {name: [(directory / name).stat().st_size, file_sha256(directory / name)]
             for name in CHECKED if (directory / name).is_file()}
    atomic_write_text(directory / MANIFEST, json.dumps({"algorithm": "sha256", "files": files}, indent=0, sort_keys=True) + "\n")


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
    from epizoo import console

    console.stderr.print(f"warning: checkpoint {directory} has no {MANIFEST} (written by an older epizoo), so its files "
                         "cannot be checked for corruption", markup=False, highlight=False, soft_wrap=True)


def load_checkpoint(directory: Path) -> tuple[dict[str, Any], Any]:
    """The JSON description and the weights: a state dict (torch) or a fitted estimator (sklearn).

    The estimator file is a pickle: load only checkpoints you made or trust.
    """
    directory = Path(directory)
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
    verify_checkpoint(directory)
    if (directory / WEIGHTS).is_file():
        return description, load_file(str(directory / WEIGHTS))
    if (directory / ESTIMATOR).is_file():
        return description, joblib.load(directory / ESTIMATOR)
    raise InputFileError(f"checkpoint {directory} has no weights ({WEIGHTS} or {ESTIMATOR}); rerun the task")
