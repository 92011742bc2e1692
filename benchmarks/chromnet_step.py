"""ChromNet training-step cost on CPU, FLOPs per window, and the GPU-hours of a genome-wide run.

    .venv/bin/python benchmarks/chromnet_step.py [--threads 2] [--default-steps 2] [--no-default]

* A training step = forward + masked MSE + cross-entropy + backward + gradient clipping + Adam,
  timed at the tiny size (32,768 bp, 16 bins; batch 1 and 8) and the default size (2,097,152 bp,
  256 bins; batch 1 only: batch 8 needs ~8x the activations, over this machine's memory), in
  fp32 on CPU. The first step is a warm-up and is not counted.
* FLOPs per window: torch.utils.flop_counter.FlopCounterMode over one forward, and over forward +
  backward, at each size (convolutions, matmuls and the LSTM's; element-wise work is not counted).
* The genome-wide estimate: hg38 windows per epoch as upstream cuts them (a 2 Mb window every
  500 kb in chr1-16, where a 5 Mb interval fits), times the training cell types (IMR90, K562 and
  the noise copy), times 80 epochs, plus a validation forward over chr17-19 per epoch; at an
  assumed sustained 40% of an H100/H200's dense bf16 peak (989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from epizoo.plugins import get_model
from epizoo.contact.train import contact_loss

HG38 = {  # chromosome lengths (bp), GRCh38 primary assembly
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555, "chr5": 181_538_259,
    "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717, "chr10": 133_797_422,
    "chr11": 135_086_622, "chr12": 133_275_309, "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616,
}
TRAIN, VALID = [f"chr{i}" for i in range(1, 17)], ["chr17", "chr18", "chr19"]
CELL_TYPES, EPOCHS = 3, 80
PEAK_BF16, UTILISATION = 989e12, 0.40


def upstream_windows(length: int, resolution: int = 10_000, interval_bins: int = 500, stride_bins: int = 50) -> int:
    """Windows per chromosome as upstream's get_active_intervals counts them (a 5 Mb interval every 500 kb)."""
    return max(0, math.ceil((length / resolution - interval_bins) / stride_bins))


def batch(hparams: dict, size: int):
    x = torch.randn(size, 5 + hparams["n_tracks"], hparams["window_length"])
    n = hparams["n_bins"]
    return x, torch.rand(size, n, n), torch.zeros(size, dtype=torch.long), torch.ones(size, dtype=torch.bool), torch.ones(size, dtype=torch.bool)


def step(model, optimizer, inputs) -> None:
    x, target, label, has_map, classify = inputs
    maps, logits = model(x)
    loss, _, _ = contact_loss(maps, logits, target, label, has_map, classify)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def time_steps(spec, tiny: bool, size: int, steps: int) -> dict:
    torch.manual_seed(0)
    hparams = spec.hparams(tiny=tiny)
    model = spec.factory(**hparams)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    inputs = batch(hparams, size)
    times = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        step(model, optimizer, inputs)
        times.append(time.perf_counter() - began)
    return {"size": "tiny" if tiny else "default", "batch": size, "steps": steps, "seconds_per_step": min(times[1:]),
            "seconds_per_window": min(times[1:]) / size, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def flops(spec, tiny: bool) -> dict:
    hparams = spec.hparams(tiny=tiny)
    model = spec.factory(**hparams)
    x, target, *_ = batch(hparams, 1)
    with FlopCounterMode(display=False) as forward:
        with torch.no_grad():
            model(x)
    with FlopCounterMode(display=False) as both:
        maps, logits = model(x)
        (F.mse_loss(maps, target) + logits.sum()).backward()
    return {"size": "tiny" if tiny else "default", "forward_gflop": forward.get_total_flops() / 1e9,
            "train_gflop": both.get_total_flops() / 1e9}


def genome_estimate(train_flop: float, forward_flop: float) -> dict:
    train_windows = sum(upstream_windows(HG38[c]) for c in TRAIN) * CELL_TYPES
    valid_windows = sum(upstream_windows(HG38[c]) for c in VALID) * CELL_TYPES
    total = EPOCHS * (train_windows * train_flop + valid_windows * forward_flop)
    seconds = total / (PEAK_BF16 * UTILISATION)
    return {"train_windows_per_epoch": train_windows, "valid_windows_per_epoch": valid_windows, "epochs": EPOCHS,
            "total_pflop": total / 1e15, "assumed_tflops": PEAK_BF16 * UTILISATION / 1e12, "gpu_hours": seconds / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--default-steps", type=int, default=2, help="timed default-size steps (after one warm-up)")
    parser.add_argument("--no-default", action="store_true", help="tiny size only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = get_model("chromnet")
    report = {"threads": args.threads, "torch": torch.__version__, "steps": [], "flops": []}
    for size in (1, 8):
        report["steps"].append(time_steps(spec, True, size, steps=3))
    report["flops"].append(flops(spec, True))
    if not args.no_default:
        report["flops"].append(flops(spec, False))
        report["steps"].append(time_steps(spec, False, 1, steps=args.default_steps))
        default = report["flops"][-1]
        report["genome_wide"] = genome_estimate(default["train_gflop"] * 1e9, default["forward_gflop"] * 1e9)
        cpu = report["steps"][-1]["seconds_per_window"]
        report["genome_wide"]["cpu_years_at_this_step"] = (
            report["genome_wide"]["train_windows_per_epoch"] * EPOCHS * cpu / (3600 * 24 * 365)
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
