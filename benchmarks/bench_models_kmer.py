"""Training-step cost of the dna2vec k-mer models (EPIVAN, EPI-DLMH, EPI-Mind, EPI-Trans).

One step = forward + BCE-with-logits + backward in train mode on random 6-mer ids, no optimizer
step; the first step is a warm-up and is not counted. Also the eval-mode forward time and the
peak resident memory of the process. Prints a Markdown table for docs/performance.md.

    python benchmarks/bench_models_kmer.py --batch 16 --repeats 3 [--device cuda] [--tiny]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import epizoo.plugins

MODELS = ("epivan", "epi-dlmh", "epi-mind", "epi-trans")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(step, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


def measure(name: str, batch: int, repeats: int, device: str, tiny: bool) -> dict:
    spec = epizoo.plugins.get_model(name)
    hparams = spec.hparams(tiny=tiny)
    model = spec.factory(**hparams).to(device)
    enhancer = torch.randint(0, 4097, (batch, hparams["enhancer_length"]), device=device)
    promoter = torch.randint(0, 4097, (batch, hparams["promoter_length"]), device=device)
    labels = torch.randint(0, 2, (batch,), device=device).float()

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(model(enhancer, promoter), labels).backward()

    def eval_step() -> None:
        with torch.no_grad():
            model(enhancer, promoter)

    model.train()
    train = [_timed(train_step, device) for _ in range(repeats + 1)][1:]
    model.eval()
    evaluate = [_timed(eval_step, device) for _ in range(repeats + 1)][1:]
    return {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train": statistics.median(train),
        "train_range": (min(train), max(train)),
        "eval": statistics.median(evaluate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="the tiny test configuration instead of the default")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} threads, batch {args.batch}, "
          f"{'tiny' if args.tiny else 'default'} configuration, median of {args.repeats} after one warm-up\n")
    print("| model | trainable parameters | train step (s) | range (s) | eval forward (s) | train pairs/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.models:
        row = measure(name, args.batch, args.repeats, args.device, args.tiny)
        low, high = row["train_range"]
        print(f"| {name} | {row['parameters']:,} | {row['train']:.3f} | {low:.3f}–{high:.3f} | "
              f"{row['eval']:.3f} | {args.batch / row['train']:.1f} |", flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
