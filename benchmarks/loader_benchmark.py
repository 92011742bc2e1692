"""Measure the loader: pairs/s delivered as model-ready input, and data wait in training.

    python benchmarks/loader_benchmark.py [--pairs 30000] [--store PATH] [--batch-size 256]
    python benchmarks/loader_benchmark.py --only memory [--memory-batch-size 64] [--seconds 5] [--device cuda]

Builds (once) a synthetic store with ``epizoo.simulate_store``, then

1. (``streaming``) reads one shuffled epoch with 0 and with 2 DataLoader workers, turning every
   batch into ``kmer6`` ids at the default 3,000/2,000-bp windows, and reports pairs per second;
2. (``wait``) trains one real model (EPIVAN, tiny settings) for a few steps and reports the
   fraction of each step spent waiting for the next batch;
3. (``memory``) compares the in-memory path with streaming in one process (no workers), batch 64,
   3,000/2,000-bp windows, on a shuffled *training* epoch (positives at all 20 published shifts):
   pairs/s as delivered (int8 codes), and made model-ready on this machine's CPU as ``kmer6`` ids
   (EPI-DynFusion's input) and as ``onehot`` (SPEID's). Each figure runs for ``--seconds``
   (epoch after epoch); the one-off load of the arrays is reported apart. ``--device cuda`` puts
   the in-memory codes, the gather and the encoders on the GPU.

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
from epizoo import coords
from epizoo.training import loader as loader_module
from epizoo.training.loader import PairBatches, augmented_items, make_loader, plain_items, sequence_bytes, to_device


def ensure_store(path: Path, n_pairs: int) -> Path:
    if not (path / "zarr.json").is_file():
        started = time.perf_counter()
        epizoo.simulate_store(path, n_pairs=n_pairs, n_contigs=6, cell_lines=2, seed=0)
        print(f"built {path} in {time.perf_counter() - started:.1f} s")
    return path


def throughput(store: Path, n_workers: int, batch_size: int, lengths: tuple[int, int]) -> dict:
    """One shuffled epoch over every pair, streamed, encoded to 6-mer ids in the main process."""
    n_pairs = int(epizoo.open_store(store).sizes["pairs"])
    encode = get_encoder("kmer6").function
    dataset = PairBatches(str(store), plain_items(np.arange(n_pairs)), batch_size, *lengths, shuffle=True, seed=0, in_memory=False)
    started, delivered = time.perf_counter(), 0
    for batch in make_loader(dataset, num_workers=n_workers):
        enhancer, promoter = encode(batch["enhancer"]), encode(batch["promoter"])
        delivered += int(enhancer.shape[0])
        assert promoter.dtype == torch.int64
    seconds = time.perf_counter() - started
    return {"workers": n_workers, "pairs": delivered, "seconds": round(seconds, 2), "pairs_per_second": round(delivered / seconds)}


def memory_versus_streaming(store: Path, batch_size: int, seconds: float, device: str = "cpu", lengths: tuple[int, int] = (3000, 2000)) -> list[dict]:
    """Pairs/s of the in-memory path and of streaming, one process, on a shuffled training epoch.

    With ``device="cuda"`` the in-memory codes and the gather are on the GPU, streamed batches are
    copied there (as the trainer does), and the encoders run on the GPU.
    """
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    import zarr

    labels = np.asarray(zarr.open_group(str(store), mode="r")["pair_label"][...])
    items = augmented_items(np.arange(labels.size), labels, coords.augmentation_shifts())
    loader_module.clear_memory_cache()
    started = time.perf_counter()
    warm = PairBatches(str(store), items, batch_size, *lengths, in_memory=True, device=device)
    next(iter(warm))  # loads the arrays into the shared cache
    sync()
    load_seconds = time.perf_counter() - started
    rows = []
    for encoding in (None, "kmer6", "onehot"):
        encode = get_encoder(encoding).function if encoding else (lambda codes: codes)
        for in_memory in (False, True):
            dataset = PairBatches(str(store), items, batch_size, *lengths, shuffle=True, seed=0, in_memory=in_memory)
            delivered, epochs, started = 0, 0, time.perf_counter()
            while time.perf_counter() - started < seconds:  # epoch after epoch, a new order each
                dataset.set_epoch(epochs)
                epochs += 1
                for batch in make_loader(dataset, num_workers=0, device=device):
                    batch = to_device(batch, device)
                    enhancer, promoter = encode(batch["enhancer"]), encode(batch["promoter"])
                    delivered += int(enhancer.shape[0])
                    if time.perf_counter() - started > seconds:
                        break
            sync()
            elapsed = time.perf_counter() - started
            rows.append({
                "path": "in memory" if in_memory else "streaming", "device": str(device), "delivered_as": encoding or "int8 codes",
                "batch_size": batch_size, "pairs": delivered, "seconds": round(elapsed, 2), "pairs_per_second": round(delivered / elapsed),
            })
            print(json.dumps(rows[-1]))
    rows.append({"items_per_epoch": len(items), "sequence_bytes": sequence_bytes(str(store)), "load_seconds": round(load_seconds, 2)})
    print(json.dumps(rows[-1]))
    return rows


def data_wait(store: Path, model: str, steps: int, batch_size: int, n_workers: int) -> dict:
    """Fraction of wall time per training step spent in ``next(loader)``."""
    torch.manual_seed(0)
    spec = get_model(model)
    hparams = spec.hparams(tiny=True)
    network = spec.factory(**hparams)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    encode = get_encoder(spec.input_encoding).function
    n_pairs = int(epizoo.open_store(store).sizes["pairs"])
    dataset = PairBatches(str(store), plain_items(np.arange(n_pairs)), batch_size, hparams["enhancer_length"], hparams["promoter_length"], shuffle=True, in_memory=False)
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
    parser.add_argument("--only", choices=("streaming", "wait", "memory"), action="append", help="run only these parts (repeatable; default all)")
    parser.add_argument("--memory-batch-size", type=int, default=64, help="batch of the in-memory comparison (default 64)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per figure of the in-memory comparison (default 5)")
    parser.add_argument("--device", default="cpu", help="where the in-memory comparison delivers batches (cpu, cuda)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = set(args.only or ("streaming", "wait", "memory"))
    store = ensure_store(args.store, args.pairs)
    results = {"threads": torch.get_num_threads(), "throughput": [], "data_wait": [], "in_memory": []}
    for n_workers in (0, 2) if "streaming" in parts else ():
        results["throughput"].append(throughput(store, n_workers, args.batch_size, (3000, 2000)))
        print(json.dumps(results["throughput"][-1]))
    for n_workers in (0, 2) if "wait" in parts else ():
        results["data_wait"].append(data_wait(store, "epivan", args.steps, 32, n_workers))
        print(json.dumps(results["data_wait"][-1]))
    if "memory" in parts:
        results["in_memory"] = memory_versus_streaming(store, args.memory_batch_size, args.seconds, args.device)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
