"""Encoders benchmark: one-hot and k-mer ids per batch, and k-mer vector training throughput.

Run:  python benchmarks/encoders_benchmark.py [--device cpu|cuda] [--batch 64] [--repeat 10] [--threads N]

Encoders run on a batch of random 3,000-bp enhancer windows (2 % N) on ``--device``; the figure is
the median of ``--repeat`` calls after one warm-up. Training runs gensim skip-gram (dna2vec
settings: 6-mers, 100-d, context 10) for one epoch over 100 random 3,000-bp sequences with one
worker. Figures go in docs/performance.md, section "Splits and encoders".
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from epizoo.encoders import kmer_counts, kmer_ids, onehot, train_kmer_vectors


def random_codes(batch: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(5, size=(batch, length), p=[0.245] * 4 + [0.02]).astype(np.int8)


def median_seconds(function, repeat: int, device: str) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is steadier on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    codes = torch.as_tensor(random_codes(args.batch, 3000)).to(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, batch {args.batch} x 3,000 bp")
    print("| encoder | ms per batch | windows/s |")
    print("|---|---:|---:|")
    for name, function in (("onehot", lambda: onehot(codes)), ("kmer6", lambda: kmer_ids(codes, 6)),
                           ("kmer_counts k=4", lambda: kmer_counts(codes, 4))):
        seconds = median_seconds(function, args.repeat, args.device)
        print(f"| {name} | {seconds * 1e3:.1f} | {args.batch / seconds:,.0f} |")
    sequences = list(random_codes(100, 3000, seed=1))
    began = time.perf_counter()
    train_kmer_vectors(sequences, k=6, dim=100, window=10, epochs=1, workers=1)
    seconds = time.perf_counter() - began
    tokens = 100 * 2995
    print(f"\nskip-gram training (6-mers, 100-d, context 10, 1 worker): {seconds:.1f} s, ~{tokens / seconds:,.0f} k-mers/s")


if __name__ == "__main__":
    main()
