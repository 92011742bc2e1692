"""Measure the streaming loader: pairs/s delivered as model-ready 6-mer ids, and data wait in training.

    python benchmarks/loader_benchmark.py [--pairs 30000] [--store PATH] [--batch-size 256]

Builds (once) a synthetic store with ``epizoo.simulate_store``, then

1. reads one shuffled epoch with 0 and with 2 DataLoader workers, turning every batch into
   ``kmer6`` ids at the default 3,000/2,000-bp windows, and reports pairs per second;
2. trains one real model (EPIVAN, tiny settings) for a few steps and reports the fraction of each
   step spent waiting for the next batch.

The figures go in docs/performance.md under "Loader".
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import epizoo
from epizoo.plugins import get_encoder, get_model
from epizoo.training.loader import PairBatches, make_loader, plain_items


def ensure_store(path: Path, n_pairs: int) -> Path:
    if not (path / "zarr.json").is_file():
        started = time.perf_counter()
        epizoo.simulate_store(path, n_pairs=n_pairs, n_contigs=6, cell_lines=2, seed=0)
        print(f"built {path} in {time.perf_counter() - started:.1f} s")
    return path


def throughput(store: Path, n_workers: int, batch_size: int, lengths: tuple[int, int]) -> dict:
    """One shuffled epoch over every pair, encoded to 6-mer ids in the main process."""
    n_pairs = int(epizoo.open_store(store).sizes["pairs"])
    encode = get_encoder("kmer6").function
    dataset = PairBatches(str(store), plain_items(np.arange(n_pairs)), batch_size, *lengths, shuffle=True, seed=0)
    started, delivered = time.perf_counter(), 0
    for batch in make_loader(dataset, num_workers=n_workers):
        enhancer, promoter = encode(batch["enhancer"]), encode(batch["promoter"])
        delivered += int(enhancer.shape[0])
        assert promoter.dtype == torch.int64
    seconds = time.perf_counter() - started
    return {"workers": n_workers, "pairs": delivered, "seconds": round(seconds, 2), "pairs_per_second": round(delivered / seconds)}


def data_wait(store: Path, model: str, steps: int, batch_size: int, n_workers: int) -> dict:
    """Fraction of wall time per training step spent in ``next(loader)``."""
    torch.manual_seed(0)
    spec = get_model(model)
    hparams = spec.hparams(tiny=True)
    network = spec.factory(**hparams)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    encode = get_encoder(spec.input_encoding).function
    n_pairs = int(epizoo.open_store(store).sizes["pairs"])
    dataset = PairBatches(str(store), plain_items(np.arange(n_pairs)), batch_size, hparams["enhancer_length"], hparams["promoter_length"], shuffle=True)
    batches = iter(make_loader(dataset, num_workers=n_workers))
    next(batches)  # worker start-up is not a per-step cost
    waiting = computing = 0.0
    for _ in range(steps):
        started = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(network(encode(batch["enhancer"]), encode(batch["promoter"])), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        waiting += fetched - started
        computing += time.perf_counter() - fetched
    return {
        "model": f"{spec.name} (tiny)", "batch_size": batch_size, "workers": n_workers, "steps": steps,
        "seconds_per_step": round((waiting + computing) / steps, 3), "data_wait_fraction": round(waiting / (waiting + computing), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30000, help="pairs of the synthetic store (default 30000)")
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "epizoo-loader-benchmark.zarr")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    store = ensure_store(args.store, args.pairs)
    results = {"threads": torch.get_num_threads(), "throughput": [], "data_wait": []}
    for n_workers in (0, 2):
        results["throughput"].append(throughput(store, n_workers, args.batch_size, (3000, 2000)))
        print(json.dumps(results["throughput"][-1]))
    for n_workers in (0, 2):
        results["data_wait"].append(data_wait(store, "epivan", args.steps, 32, n_workers))
        print(json.dumps(results["data_wait"][-1]))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
