"""Per-position importance of a pair's two elements: in-silico mutagenesis by a sliding mask, or
gradient x input.

ISM (EPI-DynFusion §6): a window of ``width`` bp slides along the enhancer, then the promoter, in
steps of ``step`` bp; each window is set to N and the pair is scored again. A window's importance
is the drop in predicted probability, ``p(original) - p(masked)`` (positive: the window supported
the prediction). N is the masked letter because every encoder already has a null for it: all-zero
one-hot columns, k-mer id 0 (the padding token) for the six 6-mers that cover a masked base, and
code 4 for the ``codes`` encoder.

tangermeme's ``ablate`` replaces a region by shuffles and its ``saturation_mutagenesis`` substitutes
single bases; neither masks a sliding window, and both take one input. So the masked variants are
built here, as one-hot rows of the enhancer (the promoter passed as the model's second argument,
and the other way round), and scored in batches by ``tangermeme.predict.predict`` through a
wrapper that turns one-hot back into codes and applies the model's own encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.extras import require
from epizoo.model_inputs import sequence_logits
from epizoo.nn import EmbeddedConv1d
from epizoo.sequence import N_CODE

KINDS = ("enhancer", "promoter")
# bases each position of an integer encoding covers, ending at that position (kmer6 is left-padded)
TOKEN_SPAN = {"kmer6": 6, "codes": 1}


@dataclass
class PairImportance:
    """One pair's importance: the probability, and per element the masked windows' starts and drops
    (ISM only) and the per-base track (ISM: the mean drop of the windows covering a base)."""

    probability: float
    starts: dict[str, np.ndarray]
    drops: dict[str, np.ndarray]
    tracks: dict[str, np.ndarray]


def window_starts(length: int, width: int, step: int) -> np.ndarray:
    """Starts of the masked windows: every ``step`` bp, plus one flush with the end so every base is masked."""
    if width > length:
        raise EpizooError(f"--mask-width {width} is longer than the model's {length}-bp window")
    starts = np.arange(0, length - width + 1, step)
    return starts if starts[-1] == length - width else np.append(starts, length - width)


def base_track(starts: np.ndarray, values: np.ndarray, width: int, length: int) -> np.ndarray:
    """Per base, the mean value of the windows that cover it."""
    total, count = np.zeros(length), np.zeros(length)
    for offset in range(width):
        np.add.at(total, starts + offset, values)
        np.add.at(count, starts + offset, 1)
    return total / np.maximum(count, 1)


def onehot_codes(onehot: torch.Tensor) -> torch.Tensor:
    """One-hot ``(B, 4, L)`` back to codes; an all-zero column is N."""
    return torch.where(onehot.sum(dim=1) > 0, onehot.argmax(dim=1), N_CODE).to(torch.int8)


class PairLogit(nn.Module):
    """(enhancer one-hot, promoter one-hot) -> the model's logit, through its own encoder, so that
    tangermeme can drive a model of any encoding."""

    def __init__(self, model: nn.Module, encode: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model, self.encode = model, encode

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        return sequence_logits(self.model, self.encode(onehot_codes(enhancer)), self.encode(onehot_codes(promoter)))


def _onehot_int8(codes: np.ndarray) -> torch.Tensor:
    table = np.vstack([np.eye(4, dtype=np.int8), np.zeros((1, 4), np.int8)])
    return torch.from_numpy(np.ascontiguousarray(table[codes.astype(np.intp)].transpose(0, 2, 1)))


def masked_variants(codes: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """One copy of ``codes`` per start with ``width`` bases from it set to N."""
    variants = np.repeat(codes[None, :], len(starts), axis=0)
    rows = np.arange(len(starts))[:, None]
    variants[rows, starts[:, None] + np.arange(width)] = N_CODE
    return variants


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """In float64: near p = 1 a float32 probability cannot resolve a small drop."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def ism_pair(wrapper: PairLogit, enhancer: np.ndarray, promoter: np.ndarray, width: int, step: int,
             batch_size: int, device: str) -> PairImportance:
    """Mask every window of both elements of one pair and score all variants in batches."""
    predict = require("tangermeme.predict", "explain").predict

    starts = {kind: window_starts(len(codes), width, step) for kind, codes in zip(KINDS, (enhancer, promoter))}
    e_rows = np.vstack([enhancer[None], masked_variants(enhancer, starts["enhancer"], width),
                        np.repeat(enhancer[None], len(starts["promoter"]), axis=0)])
    p_rows = np.vstack([promoter[None], np.repeat(promoter[None], len(starts["enhancer"]), axis=0),
                        masked_variants(promoter, starts["promoter"], width)])
    logits = predict(wrapper, _onehot_int8(e_rows), args=(_onehot_int8(p_rows),), batch_size=batch_size,
                     dtype=torch.float32, device=device)
    probabilities = _sigmoid(logits.numpy())
    n_e = len(starts["enhancer"])
    drops = {"enhancer": probabilities[0] - probabilities[1 : 1 + n_e], "promoter": probabilities[0] - probabilities[1 + n_e :]}
    tracks = {kind: base_track(starts[kind], drops[kind], width, len(codes)) for kind, codes in zip(KINDS, (enhancer, promoter))}
    return PairImportance(float(probabilities[0]), starts, drops, tracks)


# ---- gradient x input ------------------------------------------------------------------------------
def _spread(scores: np.ndarray, span: int) -> np.ndarray:
    """Token scores to bases: the token at position j covers bases j-span+1..j and its score is split
    equally among them (a base gets the sum of its tokens' shares)."""
    if span == 1:
        return scores
    padded = np.concatenate([scores, np.zeros(span - 1)])
    return np.convolve(padded, np.ones(span) / span, mode="valid")[: len(scores)]


def _embedding_scores(model: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, list[np.ndarray]]:
    """Gradient x activation of the embedding outputs that read each input's ids, summed over the
    embedding axis (integer inputs have no gradient of their own)."""
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep(module, args, output):
        output.retain_grad()
        calls.append((args[0], output))

    # the CPU table lookup of a k-mer conv skips the embedding module: the plain path calls it (same values)
    lookups = {layer: layer.path for layer in model.modules() if isinstance(layer, EmbeddedConv1d)}
    for layer in lookups:
        layer.path = "plain"
    handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.Embedding)]
    try:
        with torch.enable_grad():
            probability = torch.sigmoid(sequence_logits(model, *inputs))[0]
            probability.backward()
    finally:
        for handle in handles:
            handle.remove()
        for layer, path in lookups.items():
            layer.path = path
    scores = []
    for ids in inputs:
        found = [out for seen, out in calls if seen.shape == ids.shape and torch.equal(seen, ids) and out.grad is not None]
        if not found:
            raise EpizooError(
                f"--method gradient: {type(model).__name__} does not embed its integer input in an nn.Embedding that "
                "reads the ids as given; use --method ism"
            )
        scores.append(sum((out * out.grad).sum(-1)[0].detach().double().cpu().numpy() for out in found))
    return float(probability.detach()), scores


def gradient_pair(model: nn.Module, encode: Callable, encoding: str, enhancer: np.ndarray, promoter: np.ndarray,
                  device: str) -> PairImportance:
    """Gradient x input of the predicted probability, per base, for one pair.

    One-hot input: captum's ``InputXGradient`` on the encoded input (summed over the 4 channels, so a
    base gets the gradient at its own letter). Integer input (k-mer ids, codes): gradient x activation of
    the embedding output, each token's score shared among the bases it covers.
    """
    inputs = tuple(encode(torch.from_numpy(codes[None]).to(device)) for codes in (enhancer, promoter))
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN has no backward pass in eval mode
        return _gradient(model, encoding, inputs)


def _gradient(model: nn.Module, encoding: str, inputs: tuple[torch.Tensor, torch.Tensor]) -> PairImportance:
    if inputs[0].is_floating_point():
        InputXGradient = require("captum.attr", "explain").InputXGradient

        forward = lambda e, p: torch.sigmoid(sequence_logits(model, e, p))  # noqa: E731
        with torch.enable_grad():
            leaves = tuple(x.clone().requires_grad_(True) for x in inputs)
            attributions = InputXGradient(forward).attribute(leaves)
        with torch.no_grad():
            probability = float(forward(*inputs)[0])
        tracks = [a[0].detach().double().cpu().numpy().sum(axis=0) for a in attributions]
    else:
        span = TOKEN_SPAN.get(encoding, 1)
        probability, scores = _embedding_scores(model, inputs)
        tracks = [_spread(s, span) for s in scores]
    empty = np.empty(0)
    return PairImportance(probability, {k: empty for k in KINDS}, {k: empty for k in KINDS}, dict(zip(KINDS, tracks)))


def explainer(model: nn.Module, encode: Callable, encoding: str, method: str, width: int, step: int,
              batch_size: int, device: str) -> Callable[[np.ndarray, np.ndarray], PairImportance]:
    """A function of (enhancer codes, promoter codes) to that pair's :class:`PairImportance`."""
    model.eval()
    if method == "ism":
        wrapper = PairLogit(model, encode).eval()
        return lambda e, p: ism_pair(wrapper, e, p, width, step, batch_size, device)
    if method == "gradient":
        return lambda e, p: gradient_pair(model, encode, encoding, e, p, device)
    raise EpizooError(f"--method {method!r}: use ism or gradient")
