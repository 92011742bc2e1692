"""DeepLIFT/SHAP attributions of a pair's two elements, by ``tangermeme.deep_lift_shap``.

deep_lift_shap explains a model of one one-hot input. A pair model reads two, so each element is
explained in turn through :class:`OneSide`, whose forward takes that element's one-hot and passes
the pair's other element, held fixed, as the model's other argument. With the other element the
same in the explained row and in its references, everything computed from it is a constant of the
pass: the product of the two elements' features in a bilinear head is then linear in the explained
one, and needs no DeepLIFT rule of its own.

DeepLIFT's rules hang on ``nn.Module`` instances (tangermeme hooks ``nn.ReLU``, ``nn.MaxPool1d`` ...);
a model that calls ``torch.relu`` or ``x.amax(dim=-1)`` in its forward gives the hooks nothing to
attach to, and those operations fall back to their gradient (the convergence check then fails).
:func:`hookable` rewrites such calls, on a torch.fx trace of the model, into module calls: the
functional activations into their ``nn`` modules, a global max over the last axis into
:class:`GlobalMaxPool1d` (an ``nn.MaxPool1d`` whose window is the whole input, so tangermeme's own
max-pooling rule applies). None of these modules holds a parameter or buffer, so the traced model's
state_dict is the model's. A nonlinear call it cannot rewrite, or a model it cannot trace, is named
in the summary's notes, as are the convergence warnings tangermeme raises.

References: ``n_shuffles`` dinucleotide shuffles of the element's bases only. An N (an all-zero
one-hot column: padding past a contig's end, or an assembly gap) stays N at the same place in every
reference, so that the explained row and its references agree there and the position's attribution
is exactly 0; tangermeme's ``allow_N`` shuffle would move the N runs and put bases where the window
has none. The hypothetical scores (per base and letter) at N positions are set to 0 as well.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.explain.ism import KINDS, PairImportance, _onehot_int8, _sigmoid
from epizoo.extras import require
from epizoo.model_inputs import sequence_logits

SEED = 0  # the references' shuffles: the same attributions on every run


@dataclass
class PairAttribution(PairImportance):
    """:class:`PairImportance` with, per element, the hypothetical contributions ``(4, L)``: the
    contribution each letter would make at each position (what modisco-lite reads)."""

    hypothetical: dict[str, np.ndarray] = field(default_factory=dict)


class GlobalMaxPool1d(nn.MaxPool1d):
    """``(B, C, L)`` -> ``(B, C, 1)``: the max over the whole last axis, as an ``nn.MaxPool1d`` (whose
    DeepLIFT rule tangermeme has) sized to the input at every call."""

    def __init__(self) -> None:
        super().__init__(kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise EpizooError(f"--method deeplift: a global max over the last axis of a {x.ndim}-d tensor; only (B, C, L) is rewritten")
        self.kernel_size = self.stride = int(x.shape[-1])
        return super().forward(x)


def _activations() -> dict[Any, type[nn.Module]]:
    """Functional activations (as torch.fx records them) and the module that computes the same."""
    import torch.nn.functional as F

    pairs = {
        nn.ReLU: (torch.relu, F.relu, "relu"), nn.Sigmoid: (torch.sigmoid, F.sigmoid, "sigmoid"),
        nn.Tanh: (torch.tanh, F.tanh, "tanh"), nn.GELU: (F.gelu,), nn.SiLU: (F.silu,), nn.ELU: (F.elu,),
        nn.Softplus: (F.softplus,), nn.LeakyReLU: (F.leaky_relu,),
    }
    return {op: module for module, ops in pairs.items() for op in ops}


# calls that are nonlinear in their input and have no rewrite: named in the notes (treated by their gradient)
_UNHANDLED = {"max", "min", "amin", "softmax", "log_softmax", "exp", "log", "sqrt", "pow", "abs", "div", "topk", "sort",
              "logsumexp", "norm", "mish", "hardtanh", "relu6", "selu", "celu", "glu", "normalize", "layer_norm", "gelu"}


def _name(target: Any) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def hookable(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """``model`` with its functional activations and global max as modules (module docstring), and notes:
    what was rewritten, and any nonlinear call left as it is. The returned model shares the weights."""
    import torch.fx as fx

    try:
        traced = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: attribute the model as it is
        return model, [f"{type(model).__name__} could not be traced by torch.fx ({type(exc).__name__}); any functional "
                       "nonlinearity in its forward is treated as linear by DeepLIFT (see the convergence notes)"]
    activations, rewritten, left = _activations(), [], []
    graph = traced.graph
    for number, node in enumerate(list(graph.nodes)):
        if node.op not in ("call_function", "call_method"):
            continue
        key = node.target
        if key in activations and (node.op == "call_method") == isinstance(key, str):
            name = f"deeplift_{_name(key)}_{number}"
            traced.add_submodule(name, activations[key]())
            with graph.inserting_after(node):
                replacement = graph.call_module(name, (node.args[0],))
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
            rewritten.append(f"{_name(key)} -> nn.{activations[key].__name__}")
        elif _name(node.target) == "amax" and _global_last_axis(node):
            name = f"deeplift_globalmax_{number}"
            traced.add_submodule(name, GlobalMaxPool1d())
            with graph.inserting_after(node):
                pooled = graph.call_module(name, (node.args[0],))
                with graph.inserting_after(pooled):
                    replacement = graph.call_method("squeeze", (pooled, -1))
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
            rewritten.append("amax over the last axis -> GlobalMaxPool1d")
        elif _name(node.target) in _UNHANDLED:
            left.append(_name(node.target))
    graph.lint()
    traced.recompile()
    traced.train(model.training)
    notes = []
    if rewritten:
        notes.append("functional calls run as modules for DeepLIFT's rules: " + ", ".join(sorted(set(rewritten))))
    if left:
        notes.append("no DeepLIFT rule for " + ", ".join(sorted(set(left))) + ": treated as linear (by its gradient)")
    return traced, notes


def _global_last_axis(node) -> bool:
    """``x.amax(dim)`` / ``torch.amax(x, dim)`` over one axis, the last of a 3-d tensor, without keepdim."""
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    keepdim = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
    if isinstance(dim, (tuple, list)) and len(dim) == 1:
        dim = dim[0]
    return dim in (2, -1) and not keepdim


class OneSide(nn.Module):
    """One element's one-hot ``(B, 4, L)`` -> the pair's logit ``(B, 1)``, the other element fixed."""

    def __init__(self, model: nn.Module, side: str, other: torch.Tensor):
        super().__init__()
        self.model, self.side = model, side
        self.other = other  # (1, 4, L'), not a buffer: it is an input, not a weight

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        other = self.other.to(device=onehot.device, dtype=onehot.dtype).expand(onehot.shape[0], -1, -1)
        pair = (onehot, other) if self.side == "enhancer" else (other, onehot)
        return sequence_logits(self.model, *pair).reshape(-1, 1)


def references(onehot: torch.Tensor, n: int, seed: int = SEED) -> torch.Tensor:
    """``(1, n, 4, L)`` dinucleotide shuffles of the bases of ``onehot`` ``(4, L)``, N columns kept in place."""
    dinucleotide_shuffle = require("tangermeme.ersatz", "explain").dinucleotide_shuffle

    present = onehot.sum(dim=0) > 0
    shuffled = torch.zeros((1, n, *onehot.shape), dtype=onehot.dtype)
    if int(present.sum()) >= 3:  # a shuffle needs a few bases; fewer: all-N references, the attribution is the gradient's
        bases = onehot[:, present].float()[None]
        shuffled[0][:, :, present] = dinucleotide_shuffle(bases, n=n, random_state=seed)[0].to(onehot.dtype)
    return shuffled


def _side(model: nn.Module, side: str, onehot: torch.Tensor, other: torch.Tensor, n_shuffles: int, batch_size: int,
          device: str, ops: dict, notes: set) -> np.ndarray:
    deep_lift_shap = require("tangermeme.deep_lift_shap", "explain").deep_lift_shap

    # in eval mode: deep_lift_shap puts the wrapper back in the mode it found it in, and a wrapper left in
    # training mode would switch the model's BatchNorm to batch statistics for every later pass
    wrapper = OneSide(model, side, other).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hypothetical = deep_lift_shap(wrapper, onehot[None].float(), references=references(onehot, n_shuffles),
                                      hypothetical=True, additional_nonlinear_ops=ops, batch_size=batch_size,
                                      device=device, dtype=torch.float32,
                                      only_warn=True)[0]  # X may hold N columns: its check warns, caught below
    for warning in caught:
        text = str(warning.message)
        if "Convergence deltas are" in text:
            notes.add("tangermeme: " + text.split(":")[0] + " in at least one pair (an operation without a DeepLIFT rule)")
        elif "Convergence deltas too high" in text:
            notes.add("tangermeme: convergence deltas above 0.001 in at least one pair")
    hypothetical = hypothetical.double().numpy()
    hypothetical[:, onehot.sum(dim=0).numpy() == 0] = 0.0  # N: no letter is there, none is hypothesised
    return hypothetical


def attributer(model: nn.Module, encoding: str, n_shuffles: int, batch_size: int, device: str) -> tuple[Callable, list[str]]:
    """A function of (enhancer codes, promoter codes) to that pair's :class:`PairAttribution`, and the
    notes of :func:`hookable` (to which the function adds tangermeme's convergence warnings)."""
    maxpool_rule = require("tangermeme._deep_lift_utils", "explain")._maxpool

    if encoding != "onehot":
        raise EpizooError(f"--method deeplift needs a model that reads one-hot sequence; this one reads {encoding} "
                          "(DeepLIFT cannot pass through integer ids): use --method ism or gradient")
    model.eval()
    traced, notes = hookable(model)
    traced.eval()
    ops = {GlobalMaxPool1d: maxpool_rule}
    seen: set[str] = set()

    def attribute(enhancer: np.ndarray, promoter: np.ndarray) -> PairAttribution:
        onehot = {kind: _onehot_int8(codes[None])[0] for kind, codes in zip(KINDS, (enhancer, promoter))}
        with torch.no_grad():
            logit = traced(onehot["enhancer"][None].float().to(device), onehot["promoter"][None].float().to(device))
        hypothetical = {}
        for kind in KINDS:
            other = onehot["promoter" if kind == "enhancer" else "enhancer"][None].float()
            hypothetical[kind] = _side(traced, kind, onehot[kind], other, n_shuffles, batch_size, device, ops, seen)
        tracks = {kind: (hypothetical[kind] * onehot[kind].numpy()).sum(axis=0) for kind in KINDS}
        for note in sorted(seen - set(notes)):
            notes.append(note)
        empty = np.empty(0)
        return PairAttribution(float(_sigmoid(logit.reshape(-1)[:1].double().cpu().numpy())[0]),
                               {k: empty for k in KINDS}, {k: empty for k in KINDS}, tracks, hypothetical)

    return attribute, notes


__all__ = ["GlobalMaxPool1d", "OneSide", "PairAttribution", "attributer", "hookable", "references"]
