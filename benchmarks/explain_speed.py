"""Seconds per pair of ``epizoo explain``'s importance step (ISM and gradient x input), per model.

The models are built at their default size (the published layers and windows; EPIVAN with random
k-mer vectors, which cost the same as dna2vec's) with random weights: the time of a forward pass does
not depend on what the weights learnt. Each pair is random sequence (2 % N) at the model's windows.
ISM scores ``1 + windows(enhancer) + windows(promoter)`` variants per pair (a 6-bp mask every 3 bp:
1,001 for a 2,000 + 1,000-bp pair) in batches of ``--batch-size``; gradient x input is one forward and
one backward pass. The first pair of each is a warm-up and is not counted; the figures are medians
over ``--pairs`` pairs. The fixed costs of a run (scoring the candidate pairs, JASPAR, TOMTOM, logos)
come once per run, not per pair, and are printed apart.

    python benchmarks/explain_speed.py [--models epizoo-cnn epivan] [--pairs 3] [--threads 2] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

import epizoo.plugins
from epizoo.explain import ism


def _pair(rng: np.random.Generator, lengths: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    codes = [rng.integers(0, 4, n).astype(np.int8) for n in lengths]
    for c in codes:
        c[rng.random(c.size) < 0.02] = 4
    return codes[0], codes[1]


def time_model(name: str, method: str, pairs: int, batch_size: int, width: int, step: int) -> tuple[float, int]:
    """(median seconds per pair, variants per pair) of ``method`` on model ``name`` at its default size."""
    spec = epizoo.plugins.get_model(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        hparams = spec.hparams()
        model = spec.factory(**hparams).eval()
    lengths = (int(hparams["enhancer_length"]), int(hparams["promoter_length"]))
    encode = epizoo.plugins.get_encoder(spec.input_encoding).function
    attribute = ism.explainer(model, encode, spec.input_encoding, method, width, step, batch_size, "cpu")
    rng = np.random.default_rng(0)
    times = []
    for _ in range(pairs + 1):
        e, p = _pair(rng, lengths)
        start = time.perf_counter()
        attribute(e, p)
        times.append(time.perf_counter() - start)
    variants = 1 + sum(len(ism.window_starts(n, width, step)) for n in lengths) if method == "ism" else 1
    return statistics.median(times[1:]), variants


def fixed_costs() -> dict[str, float]:
    """Seconds of the once-per-run steps: JASPAR's matrices, one TOMTOM of 16 motifs, one logo."""
    import tempfile
    from pathlib import Path

    from epizoo.explain import motifs, outputs

    out = {}
    start = time.perf_counter()
    targets = motifs.jaspar_targets("JASPAR2024")
    out["jaspar_load"] = time.perf_counter() - start
    rng = np.random.default_rng(0)
    queries = [rng.dirichlet(np.ones(4) * 0.3, 10).T for _ in range(16)]
    start = time.perf_counter()
    motifs.best_matches(queries, targets)
    out["tomtom_16_motifs"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        outputs.motif_png(Path(scratch) / "logo.png", "q", queries[0], "t", targets[0].pwm)
        out["one_logo_png"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["epizoo-cnn", "epivan"])
    parser.add_argument("--methods", nargs="+", default=["ism", "gradient"], choices=["ism", "gradient"])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--mask-width", type=int, default=6)
    parser.add_argument("--mask-step", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print("model\tmethod\tvariants_per_pair\tseconds_per_pair")
    for name in args.models:
        for method in args.methods:
            seconds, variants = time_model(name, method, args.pairs, args.batch_size, args.mask_width, args.mask_step)
            print(f"{name}\t{method}\t{variants}\t{seconds:.3f}", flush=True)
    for what, seconds in fixed_costs().items():
        print(f"# once per run: {what} {seconds:.2f} s")


if __name__ == "__main__":
    main()
