"""Full training-step time of every registered torch model, k-mer conv plain vs lookup side by side.

One step = forward, BCE-with-logits (plus the model's L2 terms, as the trainer adds them),
backward and an optimizer step with the recipe's optimizer, in train mode, on random sequences
(2 % N) encoded with the model's encoder, at the default windows and hyperparameters. Models whose
first layer is ``epizoo.nn.EmbeddedConv1d`` run twice, as two copies with their own optimizers,
their steps interleaved so that a change of machine load hits both columns alike: once with the
plain embedding + Conv1d and once with the table lookup. Others get one column. The first step of
each is a warm-up and is not counted; the figures are medians of ``--steps`` steps.

    python benchmarks/train_speed.py [--steps 3] [--threads 1] [--device cpu|cuda] [--precision fp32|bf16]
                                     [--batch 16] [--models epivan epi-trans ...]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import epizoo.plugins
from epizoo.nn import EmbeddedConv1d, set_kmer_conv_path
from epizoo.training.trainer import make_optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Runner:
    """One model copy, its optimizer and a fixed batch; ``step()`` returns the seconds one step took."""

    def __init__(self, model, spec, inputs, labels, device, precision):
        self.model, self.inputs, self.labels, self.device, self.precision = model.train(), inputs, labels, device, precision
        self.optimizer = make_optimizer(spec.recipe, model.parameters())
        self.times: list[float] = []

    def step(self) -> None:
        _sync(self.device)
        start = time.perf_counter()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            logits = self.model(*self.inputs).float().reshape(-1)
        loss = F.binary_cross_entropy_with_logits(logits, self.labels)
        if hasattr(self.model, "regularization_loss"):
            loss = loss + self.model.regularization_loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        _sync(self.device)
        self.times.append(time.perf_counter() - start)

    def median(self) -> float:
        return statistics.median(self.times[1:])  # the first step is the warm-up


def _inputs(spec, hparams, batch: int, device: torch.device, generator: torch.Generator):
    encode = epizoo.plugins.get_encoder(spec.input_encoding).function
    out = []
    for length in (hparams["enhancer_length"], hparams["promoter_length"]):
        codes = torch.randint(0, 4, (batch, length), generator=generator, dtype=torch.int8)
        codes[torch.rand(batch, length, generator=generator) < 0.02] = 4  # N
        out.append(encode(codes.to(device)))
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def measure(name: str, args, device: torch.device) -> dict:
    spec = epizoo.plugins.get_model(name)
    hparams = spec.hparams()
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = spec.factory(**hparams).to(device)
    inputs = _inputs(spec, hparams, args.batch, device, generator)
    labels = torch.randint(0, 2, (args.batch,), generator=generator).float().to(device)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    has_layer = any(isinstance(layer, EmbeddedConv1d) for layer in model.modules())
    runners = {}
    if has_layer:
        lookup = copy.deepcopy(model)
        set_kmer_conv_path(model, "plain")
        set_kmer_conv_path(lookup, "lookup")
        runners = {"plain": _Runner(model, spec, inputs, labels, device, args.precision),
                   "lookup": _Runner(lookup, spec, inputs, labels, device, args.precision)}
    else:
        runners = {"plain": _Runner(model, spec, inputs, labels, device, args.precision)}
    for _ in range(args.steps + 1):  # interleaved: plain, lookup, plain, lookup, ...
        for runner in runners.values():
            runner.step()
    result = {"name": spec.name, "parameters": parameters, **{path: runner.median() for path, runner in runners.items()}}
    result["ranges"] = {path: (min(r.times[1:]), max(r.times[1:])) for path, r in runners.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per path, after one warm-up step")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast, as the trainer's --precision bf16")
    parser.add_argument("--models", nargs="*", help="model names (default: every registered torch model)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    specs = epizoo.plugins.get_models()
    names = args.models or [name for name, spec in specs.items() if spec.kind == "torch"]
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {_cpu_name()}, {os.cpu_count()} CPUs, "
        f"device {args.device}, {args.threads} thread(s), {args.precision}, batch {args.batch}, default windows and "
        f"hparams, median of {args.steps} steps after one warm-up; load average at start {load[0]:.2f}\n"
    )
    print("| model | trainable parameters | plain s/step | lookup s/step | speed-up | pairs/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        r = measure(name, args, device)
        best = min(r["plain"], r.get("lookup", float("inf")))
        if "lookup" in r:
            lookup, speedup = f"{r['lookup']:.3f}", f"{r['plain'] / r['lookup']:.2f}x"
        else:
            lookup, speedup = "—", "—"
        print(f"| {r['name']} | {r['parameters']:,} | {r['plain']:.3f} | {lookup} | {speedup} | {args.batch / best:.1f} |", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
