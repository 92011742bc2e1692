"""Pairs per second of ``epizoo scan`` on the CPU, one model per input kind.

Writes a synthetic genome (``--contigs`` contigs of ``--contig-mb`` Mb, random bases), an enhancer
BED (one 500-bp enhancer every ``--enhancer-spacing`` bp) and a GTF (one transcript every
``--promoter-spacing`` bp, both strands), then scans it with seeded, untrained models at their
default size (speed does not depend on training): a k-mer torch model, a one-hot torch model and
the scikit-learn baselines (fitted on a few random pairs). Each model scans the first enhancers of
every contig, as many as give about its ``--pairs`` target with the default distance range
(10 kb to 2 Mb). Figures: pairs scored per second while scoring (reading windows, scoring,
writing rows; the model and inputs loaded), and the whole call's seconds.

    python benchmarks/scan_speed.py [--contigs 2] [--contig-mb 1.5] [--threads N] [--batch-size 256]
                                    [--models epivan=600 epizoo-cnn=1500 distance=100000 kmer=5000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import epizoo
from epizoo.sources.genome import ArrayGenome
from epizoo.checkpoint import checkpoint_model_fields
from epizoo.inference_scan import scan_windows
from epizoo.plugins import get_model
from epizoo.testing import pair_codes
from epizoo.checkpoint import save_checkpoint

DEFAULT_MODELS = ("epivan=600", "epizoo-cnn=1500", "distance=100000", "kmer=5000")


def write_inputs(folder: Path, contigs: int, contig_bp: int, enhancer_spacing: int, promoter_spacing: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    names = [f"chr{i + 1}" for i in range(contigs)]
    genome = ArrayGenome({name: rng.integers(0, 4, contig_bp, dtype=np.int8) for name in names}, name="synthetic")
    enhancers = {name: sorted(rng.integers(0, contig_bp - 500, contig_bp // enhancer_spacing).tolist()) for name in names}
    lines = []
    for name in names:
        for i, start in enumerate(rng.integers(1, contig_bp - 5000, contig_bp // promoter_spacing).tolist()):
            strand = "+-"[i % 2]
            lines.append(f'{name}\tsynthetic\ttranscript\t{start}\t{start + 4000}\t.\t{strand}\t.\tgene_id "{name}g{i}"; transcript_id "{name}t{i}";\n')
    gtf = folder / "genes.gtf"
    gtf.write_text("".join(lines))
    return {"genome": genome.write_fasta(folder / "genome.fa"), "gtf": gtf, "enhancers": enhancers}


def enhancer_bed(folder: Path, enhancers: dict[str, list[int]], per_contig: int) -> Path:
    path = folder / f"enhancers-{per_contig}.bed"
    path.write_text("".join(f"{name}\t{s}\t{s + 500}\t{name}e{i}\n" for name, starts in enhancers.items() for i, s in enumerate(starts[:per_contig])))
    return path


def seeded_checkpoint(folder: Path, name: str, seed: int = 0) -> Path:
    """An untrained model at its default size as a stand-alone checkpoint (scikit-learn: fitted on 64 random pairs)."""
    spec = get_model(name)
    hparams = spec.hparams()
    fields = checkpoint_model_fields(spec, hparams)
    if spec.kind == "torch":
        torch.manual_seed(seed)
        save_checkpoint(folder, fields, state=spec.factory(**hparams).state_dict())
    else:
        enhancer, promoter = pair_codes(hparams, 64, seed)
        distance = np.random.default_rng(seed).integers(10_000, 2_000_000, 64)
        save_checkpoint(folder, fields, estimator=spec.factory(**hparams).fit(spec.features(enhancer, promoter, distance), np.arange(64) % 2))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contigs", type=int, default=2)
    parser.add_argument("--contig-mb", type=float, default=1.5)
    parser.add_argument("--enhancer-spacing", type=int, default=2_000)
    parser.add_argument("--promoter-spacing", type=int, default=30_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="NAME=PAIRS")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="epizoo-scan-speed-") as scratch:
        folder = Path(scratch)
        inputs = write_inputs(folder, args.contigs, int(args.contig_mb * 1e6), args.enhancer_spacing, args.promoter_spacing, args.seed)
        promoters_per_contig = int(args.contig_mb * 1e6) // args.promoter_spacing
        print(f"# {args.contigs} x {args.contig_mb} Mb; {promoters_per_contig} TSSs per contig; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.1f}; batch size {args.batch_size}")
        print("| model | input | windows read (bp) | pairs | pairs/s while scoring | whole call (s) |")
        print("|---|---|---|---:|---:|---:|")
        for entry in args.models:
            name, _, target = entry.partition("=")
            spec = get_model(name)
            per_contig = max(1, int(target or 1000) // max(1, args.contigs * promoters_per_contig))
            bed = enhancer_bed(folder, inputs["enhancers"], per_contig)
            checkpoint = seeded_checkpoint(folder / f"ckpt-{spec.name}", spec.name, args.seed)
            started = time.monotonic()
            done = epizoo.scan(checkpoint, inputs["genome"], bed, inputs["gtf"], folder / f"{spec.name}.bedpe.gz", batch_size=args.batch_size)
            windows = scan_windows(spec, checkpoint_model_fields(spec, spec.hparams()))
            kind = spec.input_encoding if spec.kind == "torch" else "sklearn"
            read = f"{windows['enhancer']}/{windows['promoter']}" if windows["enhancer"] else "none"
            print(f"| {spec.name} | {kind} | {read} | {done['pairs']:,} | "
                  f"{done['pairs_per_second']:,.0f} | {time.monotonic() - started:.1f} |", flush=True)


if __name__ == "__main__":
    main()
