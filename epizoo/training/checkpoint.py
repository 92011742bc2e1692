"""Checkpoints: weights as safetensors (torch) or joblib (scikit-learn) beside a JSON description.

The JSON holds the model card, hyperparameters, the recipe actually used, the fold, the store's
provenance and the metrics, so a checkpoint explains itself without the run that made it. Files
are written under temporary names and renamed, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import joblib
import torch
from safetensors.torch import load_file, save_file

from epizoo.errors import InputFileError
from epizoo.jsontext import dumps

WEIGHTS = "weights.safetensors"
ESTIMATOR = "estimator.joblib"
DESCRIPTION = "checkpoint.json"
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


def save_checkpoint(directory: Path, description: dict[str, Any], state: dict[str, torch.Tensor] | None = None, estimator: Any = None) -> None:
    """Write the weights (``state`` or ``estimator``) then the JSON description into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if state is not None:
        tmp = directory / f".{WEIGHTS}.tmp"
        # safetensors refuses shared or non-contiguous storage: save independent copies.
        save_file({name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}, str(tmp))
        os.replace(tmp, directory / WEIGHTS)
    if estimator is not None:
        tmp = directory / f".{ESTIMATOR}.tmp"
        joblib.dump(estimator, tmp)
        os.replace(tmp, directory / ESTIMATOR)
    atomic_write_text(directory / DESCRIPTION, dumps(description, indent=2) + "\n")


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
    if (directory / WEIGHTS).is_file():
        return description, load_file(str(directory / WEIGHTS))
    if (directory / ESTIMATOR).is_file():
        return description, joblib.load(directory / ESTIMATOR)
    raise InputFileError(f"checkpoint {directory} has no weights ({WEIGHTS} or {ESTIMATOR}); rerun the task")
