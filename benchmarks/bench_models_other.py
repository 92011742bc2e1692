"""Cost of EPI-DynFusion, SPEID, SIMCNN, LOCO-EPI and the distance / k-mer baselines.

Torch models: one step = forward + BCE-with-logits (+ the model's L2 terms, if any) + backward in
train mode on random int8 codes passed through the model's registered encoder, no optimizer step;
the first step is a warm-up. Baselines: feature extraction and fit time on random pairs of the
default window lengths. Prints Markdown tables for docs/performance.md.

    python benchmarks/bench_models_other.py --batch 8 --repeats 2 [--device cuda] [--tiny]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import torch

import epizoo.plugins

TORCH_MODELS = ("epi-dynfusion", "speid", "simcnn", "loco-epi")
SKLEARN_MODELS = ("distance", "kmer")


def _timed(step, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_torch(name: str, batch: int, repeats: int, device: str, tiny: bool) -> dict:
    spec = epizoo.plugins.get_model(name)
    hparams = spec.hparams(tiny=tiny)
    model = spec.factory(**hparams).to(device)
    encode = epizoo.plugins.get_encoder(spec.input_encoding).function
    enhancer, promoter = (
        encode(torch.randint(0, 4, (batch, hparams[key]), dtype=torch.int8, device=device))
        for key in ("enhancer_length", "promoter_length")
    )
    labels = torch.randint(0, 2, (batch,), device=device).float()

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(enhancer, promoter), labels)
        if hasattr(model, "regularization_loss"):
            loss = loss + model.regularization_loss()
        loss.backward()

    def eval_step() -> None:
        with torch.no_grad():
            model(enhancer, promoter)

    model.train()
    train = [_timed(train_step, device) for _ in range(repeats + 1)][1:]
    model.eval()
    evaluate = [_timed(eval_step, device) for _ in range(repeats + 1)][1:]
    return {
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train": statistics.median(train),
        "range": (min(train), max(train)),
        "eval": statistics.median(evaluate),
    }


def measure_sklearn(name: str, pairs: int) -> dict:
    spec = epizoo.plugins.get_model(name)
    rng = np.random.default_rng(0)
    enhancer = rng.integers(0, 4, (pairs, spec.enhancer_length), dtype=np.int8)
    promoter = rng.integers(0, 4, (pairs, spec.promoter_length), dtype=np.int8)
    distance, labels = rng.uniform(1e4, 2e6, pairs), rng.integers(0, 2, pairs)
    start = time.perf_counter()
    features = spec.features(enhancer, promoter, distance)
    featurise = time.perf_counter() - start
    start = time.perf_counter()
    spec.build().fit(features, labels)
    return {"features": featurise, "fit": time.perf_counter() - start, "columns": features.shape[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="the tiny test configuration instead of the default")
    parser.add_argument("--pairs", type=int, default=4000, help="pairs for the baselines (0: skip them)")
    parser.add_argument("--models", nargs="*", default=list(TORCH_MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} threads, batch {args.batch}, "
          f"{'tiny' if args.tiny else 'default'} configuration, median of {args.repeats} after one warm-up\n")
    print("| model | trainable parameters | train step (s) | range (s) | eval forward (s) | train pairs/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.models:
        row = measure_torch(name, args.batch, args.repeats, args.device, args.tiny)
        low, high = row["range"]
        print(f"| {name} | {row['parameters']:,} | {row['train']:.3f} | {low:.3f}–{high:.3f} | "
              f"{row['eval']:.3f} | {args.batch / row['train']:.1f} |", flush=True)
    if args.pairs:
        print(f"\n| baseline | feature columns | features for {args.pairs:,} pairs (s) | fit (s) |")
        print("|---|---:|---:|---:|")
        for name in SKLEARN_MODELS:
            row = measure_sklearn(name, args.pairs)
            print(f"| {name} | {row['columns']} | {row['features']:.2f} | {row['fit']:.2f} |", flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
