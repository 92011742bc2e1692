"""Store benchmark: build throughput from a FASTA, bytes per stored base, open + LOCO fold time.

Run:  python benchmarks/store_benchmark.py [--pairs 50000] [--codecs]

A random genome is written to a FASTA in a temporary folder and read back through
``FastaGenome`` (pyfaidx), so the build measures the real path from a genome file to a store.
``--codecs`` also compares compressors on the int8 sequence arrays (the measurement behind
``epizoo.store.writing.SEQUENCE_CODEC``). Figures go in docs/performance.md, section "Store".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.datasets.base import LoadedDataset
from epizoo.sources.genome import ArrayGenome, FastaGenome
from epizoo.store.build import build_store
from epizoo.store.io import open_store

CONTIGS = 8
CONTIG_LENGTH = 16_000_000  # 128 Mb in all: windows rarely overlap, as on a real genome


def random_pairs(rng: np.random.Generator, n_pairs: int) -> pd.DataFrame:
    """Pairs 10 kb-1 Mb apart; promoters shared by about 4 pairs each, as in TargetFinder."""
    contig = rng.integers(1, CONTIGS + 1, n_pairs)
    promoter_tss = rng.integers(1_000_000, CONTIG_LENGTH - 1_000_000, n_pairs // 4 + 1)
    tss = promoter_tss[rng.integers(0, len(promoter_tss), n_pairs)]
    distance = rng.integers(10_000, 1_000_000, n_pairs) * rng.choice([-1, 1], n_pairs)
    enhancer_start = tss + distance
    names = np.array([f"chr{i}" for i in range(1, CONTIGS + 1)])[contig - 1]
    return pd.DataFrame(
        {
            "enhancer_contig": names, "enhancer_start": enhancer_start, "enhancer_end": enhancer_start + 500,
            "promoter_contig": names, "promoter_start": tss, "promoter_end": tss + 1,
            "cell_line": rng.choice(["GM12878", "K562", "HeLa-S3"], n_pairs),
            "label": (rng.random(n_pairs) < 0.05).astype(np.int8), "source": "benchmark",
        }
    )


def measure_codecs(sequences: np.ndarray, folder: Path) -> list[tuple[str, float, float]]:
    """(codec, bytes per base, write MB/s) for int8 code arrays under several compressors."""
    import zarr
    from zarr.codecs import BloscCodec, ZstdCodec

    choices = {
        "none": None,
        "zstd level 3": [ZstdCodec(level=3)],
        "blosc lz4 5 shuffle": [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")],
        "blosc lz4 5 bitshuffle": [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")],
        "blosc zstd 1 bitshuffle": [BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")],
        "blosc zstd 3 bitshuffle": [BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")],
        "blosc zstd 3 noshuffle": [BloscCodec(cname="zstd", clevel=3, shuffle="noshuffle")],
        "blosc zstd 9 bitshuffle": [BloscCodec(cname="zstd", clevel=9, shuffle="bitshuffle")],
    }
    rows = []
    for name, compressors in choices.items():
        path = folder / f"codec-{len(rows)}.zarr"
        began = time.perf_counter()
        array = zarr.create_array(path, shape=sequences.shape, chunks=(1024, sequences.shape[1]), dtype="int8",
                                  zarr_format=3, compressors=compressors)
        array[:] = sequences
        seconds = time.perf_counter() - began
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        rows.append((name, size / sequences.size, sequences.nbytes / seconds / 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--codecs", action="store_true", help="also compare compressors")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genome = ArrayGenome({f"chr{i}": rng.integers(0, 4, CONTIG_LENGTH, dtype=np.int8) for i in range(1, CONTIGS + 1)})
        fasta = FastaGenome(genome.write_fasta(tmp / "genome.fa"))
        pairs = random_pairs(rng, args.pairs)
        began = time.perf_counter()
        report = build_store(LoadedDataset(pairs, "random"), tmp / "bench.zarr", sequence=fasta, progress=False, dataset="benchmark")
        build_seconds = time.perf_counter() - began
        print(f"pairs: {report.pairs_read:,}  enhancers: {report.enhancers:,}  promoters: {report.promoters:,}")
        print(f"build (incl. .fai, hashing, validation): {build_seconds:.2f} s = {report.pairs_read / build_seconds:,.0f} pairs/s")
        print(f"store: {report.bytes_on_disk / 1e6:.1f} MB for {report.stored_bases / 1e6:.1f} M stored bases = "
              f"{report.bytes_per_base:.3f} bytes/base (int32 tokens: 4, int64 tokens: 8)")
        began = time.perf_counter()
        ds = open_store(tmp / "bench.zarr")
        opened = time.perf_counter() - began
        try:
            folds = ds.epizoo.folds("loco")
            total = time.perf_counter() - began
            print(f"open: {opened:.3f} s; open + all {len(folds)} LOCO fold masks: {total:.3f} s")
        except Exception as exc:  # the split may not be registered in a partial checkout
            print(f"open: {opened:.3f} s; LOCO folds not measured ({exc})")
        if args.codecs:
            sample = ds["enhancer_sequence"][:4096].values
            print("\n| codec | bytes/base | write MB/s |\n|---|---|---|")
            for name, per_base, speed in measure_codecs(sample, tmp):
                print(f"| {name} | {per_base:.3f} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
