"""Genome layer benchmark: bytes per Gb of tracks and contact maps, and the read time of a 2-Mb window.

Run:  python benchmarks/genome_layer.py [--contigs 3] [--json out.json]

Data come from the synthetic genome layer (``--option genome=true``: CTCF-like peaks 60 bp wide, ATAC
peaks 150 bp wide, noise constant over 25-bp steps like a read pile-up; Poisson contact counts),
plus a CTCF track with noise on every base (the worst case for compression), so nothing is downloaded. For each track
resolution and dtype the tracks are written with the layer's own chunking and codec, then
compared with the 1-bp float32 values over 2,097,152-bp windows (ChromNet's input): relative mean
absolute error, Pearson r and the error of each window's highest peak. Maps are written as the
layer's band (10 kb bins, 201 diagonals) as raw counts and as balanced-like values (counts times
two per-bin weights, which compress worse), in float32 and float16. Last, a store is built and one
window is read through ``ds.epizoo`` (sequence, 2 tracks, the map). Figures go in
docs/performance.md, section "Genome layer".
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import simulate
from epizoo.store import genome_layer as gl

WINDOW = 2_097_152
RESOLUTIONS = (1, 10, 50, 128)
DTYPES = ("float16", "float32")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_array(path: Path, values: np.ndarray, chunks: tuple, codec: dict, dtype: str) -> None:
    import zarr

    array = zarr.create_array(path, shape=values.shape, chunks=chunks, dtype=dtype, compressors=[gl._blosc(codec)],
                              fill_value=np.nan)
    array[...] = values.astype(dtype)


def track_figures(layer, tmp: Path) -> list[dict]:
    """Size, fidelity and read time of each (resolution, dtype) for the CTCF and ATAC tracks of one cell line."""
    cell = layer.cells[0]
    rows = []
    rng = np.random.default_rng(0)
    for mark, noise in (("CTCF", "25-bp steps"), ("ATAC", "25-bp steps"), ("CTCF", "per base")):
        exact = {c: layer.track_values(cell, mark, c, 0, n) for c, n in layer.contigs.items()}
        if noise == "per base":  # the worst case for compression: every base differs (x lognormal, sd 0.2)
            exact = {c: v * rng.lognormal(0.0, 0.2, len(v)).astype(np.float32) for c, v in exact.items()}
        total = sum(len(v) for v in exact.values())
        for resolution in RESOLUTIONS:
            chunk = -(-gl.TRACK_CHUNK_BP // resolution)
            for dtype in DTYPES:
                folder = tmp / f"{mark}-{noise}-{resolution}-{dtype}"
                folder.mkdir()
                errors, peaks, pearsons, reads = [], [], [], []
                for contig, values in exact.items():
                    binned = gl.bin_means(values, resolution)
                    write_array(folder / contig, binned, (chunk,), gl.TRACK_CODEC, dtype)
                    import zarr

                    stored = zarr.open_array(folder / contig, mode="r")
                    for start in range(0, len(values) - WINDOW + 1, WINDOW // 2):
                        began = time.perf_counter()
                        lo, hi = start // resolution, -(-(start + WINDOW) // resolution)
                        per_base = np.repeat(stored[lo:hi].astype(np.float32), resolution)[start - lo * resolution :][:WINDOW]
                        reads.append(time.perf_counter() - began)
                        truth = values[start : start + WINDOW]
                        errors.append(np.abs(per_base - truth).sum() / np.abs(truth).sum())
                        peaks.append(abs(per_base.max() - truth.max()) / truth.max())
                        pearsons.append(np.corrcoef(per_base, truth)[0, 1])
                rows.append({
                    "mark": mark, "noise": noise, "resolution": resolution, "dtype": dtype,
                    "bytes_per_gb": round(folder_bytes(folder) / total * 1e9),
                    "relative_abs_error": round(float(np.mean(errors)), 5), "peak_error": round(float(np.mean(peaks)), 4),
                    "pearson": round(float(np.mean(pearsons)), 5), "read_ms": round(1000 * float(np.median(reads)), 2),
                })
                print(rows[-1], flush=True)
    return rows


def map_figures(layer, tmp: Path) -> list[dict]:
    """Bytes per Gb of one cell line's band, raw counts and balanced-like values, float32 and float16."""
    settings = gl.LayerSettings()
    rng = np.random.default_rng(0)
    bands = {}
    for contig, length in layer.contigs.items():
        n_bins = -(-length // settings.bin_size)
        raw = layer.contact_band(layer.cells[0], contig, 0, n_bins, settings)
        weight = rng.uniform(0.5, 1.5, n_bins + settings.diagonals) / 1000
        index = np.arange(n_bins)[:, None] + np.arange(settings.diagonals)[None, :]
        bands[contig] = {"raw": raw, "balanced": raw * weight[:n_bins, None] * weight[index]}
    total = sum(layer.contigs.values())
    rows = []
    for kind in ("raw", "balanced"):
        for dtype in ("float32", "float16"):
            folder = tmp / f"map-{kind}-{dtype}"
            folder.mkdir()
            worst = 0.0
            for contig, band in bands.items():
                values = band[kind]
                write_array(folder / contig, values, (gl.CONTACT_CHUNK, settings.diagonals), gl.CONTACT_CODEC, dtype)
                back = values.astype(dtype).astype(np.float32)
                finite = values > 0
                worst = max(worst, float(np.max(np.abs(back[finite] - values[finite]) / values[finite])))
            rows.append({"matrix": kind, "dtype": dtype, "bytes_per_gb": round(folder_bytes(folder) / total * 1e9),
                         "max_relative_error": round(worst, 5)})
            print(rows[-1], flush=True)
    return rows


def window_read(loaded, tmp: Path, repeats: int = 20) -> dict:
    """Build a store with the layer, then time one window: sequence, CTCF and ATAC tracks, the map."""
    from epizoo.store.build import build_store
    from epizoo.store.io import open_store

    request = gl.LayerRequest()
    out = tmp / "store.zarr"
    began = time.perf_counter()
    build_store(loaded, out, progress=False, dataset="synthetic", add_layers=request.writer_for(loaded, None, progress=False))
    build_seconds = time.perf_counter() - began
    ds = open_store(out)
    e = ds.epizoo
    cell, contigs = e.contact_cell_lines()[0], e.genome_contigs()
    rng = np.random.default_rng(1)
    times = {"sequence": [], "tracks": [], "map": []}
    for i in range(repeats):
        contig = list(contigs)[i % len(contigs)]
        start = int(rng.integers(0, contigs[contig] - WINDOW))
        t0 = time.perf_counter()
        e.sequence(contig, start, start + WINDOW)
        t1 = time.perf_counter()
        e.track(cell, "CTCF", contig, start, start + WINDOW)
        e.track(cell, "ATAC", contig, start, start + WINDOW)
        t2 = time.perf_counter()
        e.contacts(cell, contig, start, start + WINDOW)
        t3 = time.perf_counter()
        for key, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(seconds)
    layer_bytes = {name: folder_bytes(out / name) for name in ("genome_sequence", "track_value", "contact_value")}
    medians = {f"{k}_ms": round(1000 * float(np.median(v)), 2) for k, v in times.items()}
    total = round(1000 * float(np.median(np.sum([times[k] for k in times], axis=0))), 2)
    return {"build_seconds": round(build_seconds, 1), "bases": sum(contigs.values()), "layer_bytes": layer_bytes,
            **medians, "window_ms": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contigs", type=int, default=3, help="synthetic contigs of about 3 Mb each")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    loaded = simulate(DatasetRequest(seed=0, options={"n_pairs": 1200, "n_contigs": args.contigs, "genome": "true"}))
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        figures = {"tracks": track_figures(loaded.genome_layer, tmp), "maps": map_figures(loaded.genome_layer, tmp),
                   "window": window_read(loaded, tmp)}
    print(json.dumps(figures["window"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
