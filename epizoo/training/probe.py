"""What ``auto`` means on a GPU: the k-mer conv path and the precision, chosen by a timed probe.

On CPU the rules are fixed and were measured (the lookup path, fp32). On CUDA the fastest
combination depends on the model: ``benchmarks/train_speed.py --device cuda`` on an H200 found
the plain embedding + conv 8x slower than the lookup under bf16 autocast but up to 1.6x faster in
fp32, and bf16 barely faster than fp32 for these small models. So at the start of a CUDA task the
trainer times a few training steps of the model itself, on one batch of its training side, for
each candidate (path x precision left to ``auto``), and keeps the fastest.

The probe is one function of a *step timer*, ``step(path, precision) -> seconds`` (one training
step, synchronised), so that it can be tested on CPU with fake timings. Candidates are timed in
interleaved rounds (a change of machine load hits them alike); the first rounds are warm-up
(autotuning, allocator, lazy kernels) and the median of the others is kept. Cost per task:
``(PROBE_WARMUP + PROBE_STEPS) x candidates`` steps, at most 16 (about 1-2 s on the models timed).
"""

from __future__ import annotations

import statistics
from typing import Callable

import torch
from torch import nn

from epizoo.nn import auto_kmer_conv_layers, resolve_path

PROBE_WARMUP = 1  # rounds not counted
PROBE_STEPS = 3  # rounds timed; the median is kept
PRECISION_CHOICES = ("fp32", "bf16")
PATH_CHOICES = ("lookup", "plain")  # on a tie the first wins: lookup never lost much when it lost

StepTimer = Callable[[str | None, str], float]


def candidates(model: nn.Module, device: torch.device, precision: str, resolved: str) -> list[tuple[str | None, str]]:
    """(k-mer conv path or None, precision) pairs worth timing; one pair means nothing to probe.

    ``precision`` is what was asked ("auto", "fp32", "bf16"), ``resolved`` its static resolution."""
    layers = auto_kmer_conv_layers(model)
    if device.type != "cuda":  # the CPU rules were measured: lookup, and the asked precision
        return [(resolve_path("auto", device) if layers else None, resolved)]
    paths = list(PATH_CHOICES) if layers else [None]
    precisions = list(PRECISION_CHOICES) if precision == "auto" else [resolved]
    return [(path, prec) for prec in reversed(precisions) for path in paths]  # bf16 first: today's default wins ties


def time_candidates(choices: list[tuple[str | None, str]], step: StepTimer, warmup: int = PROBE_WARMUP,
                    steps: int = PROBE_STEPS) -> dict[tuple[str | None, str], float]:
    """Median seconds per step of each choice, over ``steps`` interleaved rounds after ``warmup``."""
    samples: dict[tuple[str | None, str], list[float]] = {choice: [] for choice in choices}
    for round_ in range(warmup + steps):
        for choice in choices:
            seconds = step(*choice)
            if round_ >= warmup:
                samples[choice].append(seconds)
    return {choice: statistics.median(values) for choice, values in samples.items()}


def choose(model: nn.Module, device: torch.device, precision: str, resolved: str, step: StepTimer | None,
           warmup: int = PROBE_WARMUP, steps: int = PROBE_STEPS) -> dict:
    """``{"kmer_conv_path", "precision", "probe"}``: the fastest candidate, and what was measured
    (``probe`` is None when there was one candidate, or no step timer)."""
    choices = candidates(model, device, precision, resolved)
    if len(choices) == 1 or step is None:
        path, prec = choices[0]
        return {"kmer_conv_path": path, "precision": prec, "probe": None}
    timed = time_candidates(choices, step, warmup, steps)
    path, prec = min(choices, key=lambda choice: timed[choice])  # min keeps the first of equals
    seconds = {f"{p or 'no k-mer conv'}/{q}": round(value, 6) for (p, q), value in timed.items()}
    return {"kmer_conv_path": path, "precision": prec,
            "probe": {"seconds_per_step": seconds, "warmup_steps": warmup, "timed_steps": steps}}
