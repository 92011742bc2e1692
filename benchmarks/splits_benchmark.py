"""Splits benchmark: open a store and compute the folds of every split, then check them for leakage.

Run:  python benchmarks/splits_benchmark.py [--pairs 50000] [--repeat 5]

A store of ``--pairs`` random pairs on 23 chromosomes (chr1..22, chrX) and 3 cell lines is
built from an in-memory random genome (short 200-bp windows: the splits never read sequences,
so window size does not change what is measured). Each figure is the best of ``--repeat`` runs
of a freshly opened store; the plugin registry is loaded once beforehand (it imports torch for
the models, which is not the split's cost). Figures go in docs/performance.md, section "Splits".
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.datasets.base import LoadedDataset
from epizoo.sources.genome import ArrayGenome
from epizoo.plugins import get_splits
from epizoo.splits import LeakageWarning, check_folds, get_folds
from epizoo.store.build import build_store
from epizoo.store.io import open_store

CONTIGS = [f"chr{i}" for i in range(1, 23)] + ["chrX"]
CONTIG_LENGTH = 4_000_000


def random_pairs(rng: np.random.Generator, n_pairs: int) -> pd.DataFrame:
    """Pairs 10 kb-1 Mb apart on 23 chromosomes; each promoter shared by about 4 pairs, as in TargetFinder."""
    contig = rng.integers(0, len(CONTIGS), n_pairs // 4 + 1)
    tss = rng.integers(1_100_000, CONTIG_LENGTH - 1_100_000, len(contig))
    promoter = rng.integers(0, len(contig), n_pairs)
    offset = rng.integers(10_000, 1_000_000, n_pairs // 2 + 1) * rng.choice([-1, 1], n_pairs // 2 + 1)
    enhancer_start = (tss[promoter] + offset[rng.integers(0, len(offset), n_pairs)]).clip(0, CONTIG_LENGTH - 500)
    names = np.array(CONTIGS)[contig[promoter]]
    return pd.DataFrame(
        {
            "enhancer_contig": names, "enhancer_start": enhancer_start, "enhancer_end": enhancer_start + 500,
            "promoter_contig": names, "promoter_start": tss[promoter], "promoter_end": tss[promoter] + 1,
            "cell_line": rng.choice(["GM12878", "K562", "HeLa-S3"], n_pairs),
            "label": (rng.random(n_pairs) < 0.05).astype(np.int8), "source": "benchmark",
            "cv_group": np.char.add("cv-", (contig[promoter] % 12).astype(str)),
        }
    )


def build(path: Path, n_pairs: int) -> None:
    rng = np.random.default_rng(0)
    genome = ArrayGenome({c: rng.integers(0, 4, CONTIG_LENGTH).astype(np.int8) for c in CONTIGS})
    loaded = LoadedDataset(random_pairs(rng, n_pairs), genome_build="random", sequence=genome)
    build_store(loaded, path, enhancer_window=200, promoter_window=200, n_shifts=0, progress=False, dataset="benchmark")


def best_of(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", type=Path, default=None, help="Keep the store here (reused when it exists).")
    args = parser.parse_args()
    get_splits()  # load the plugin registry once
    with tempfile.TemporaryDirectory() as folder:
        path = args.store or Path(folder) / "bench.zarr"
        if not path.exists():
            build(path, args.pairs)
        ds = open_store(path)
        print(f"{ds.sizes['pairs']:,} pairs, {ds.sizes['enhancers']:,} enhancers, {ds.sizes['promoters']:,} promoters")
        print("| split | folds | open + folds (s) | open + leakage check of all folds (s) |")
        print("|---|---:|---:|---:|")
        for name, options in (("loco", {}), ("cross-cell-line", {}), ("cross-cell-line-strict", {}),
                              ("source-groups", {}), ("chromosome", {"test": ["chr8"], "valid": ["chr7"]}), ("random", {})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LeakageWarning)
                seconds, folds = best_of(args.repeat, lambda: get_folds(open_store(path), name, **options))
            strict = name in ("loco", "cross-cell-line-strict", "source-groups", "chromosome")
            check, _ = best_of(args.repeat, lambda: check_folds(open_store(path), folds, strict=strict))
            print(f"| {name} | {len(folds)} | {seconds:.3f} | {check:.3f} |")


if __name__ == "__main__":
    main()
