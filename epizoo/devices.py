"""Where models run and in what precision: the one place ``--device`` and ``--precision`` are resolved
(the bench, ``train-contacts``, ``predict``, ``scan`` and ``explain`` all call it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from epizoo.errors import EpizooError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device ``name`` names (``auto``: CUDA when present, else the CPU); one line when it
    is unknown or CUDA is asked for but absent."""
    import torch  # heavy: only a command that runs a model pays for it

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EpizooError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EpizooError(f"device {name!r} asked for but CUDA is not available; use --device cpu")
    return device


def resolve_precision(name: str, device: torch.device) -> str:
    """'fp32' or 'bf16': the default is the equal math on CPU and bf16 autocast on CUDA (training on
    CUDA then times both, see ``epizoo.training.trainer``)."""
    if name not in PRECISIONS:
        raise EpizooError(f"unknown precision {name!r}; use fp32 or bf16")
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return name
