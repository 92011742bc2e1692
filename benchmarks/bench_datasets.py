"""Time the dataset readers and the synthetic generator.

Usage: EPIZOO_DATA_DIR=<folder of upstream files> python benchmarks/bench_datasets.py
Prints one Markdown table row per case for docs/performance.md.
"""

from __future__ import annotations

import time

from epizoo.datasets import bengi, synthetic, targetfinder
from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.negatives import add_negatives

CASES = {
    "synthetic, default (4,000 pairs)": lambda: synthetic.simulate(DatasetRequest()),
    "synthetic, 50,000 pairs": lambda: synthetic.simulate(DatasetRequest(options={"n_pairs": 50_000})),
    "targetfinder, six cell lines": lambda: targetfinder.load(DatasetRequest()),
    "bengi transepi, ten tables (cv_groups=rule)": lambda: bengi.load(DatasetRequest(variant="transepi", options={"cv_groups": "rule"})),
}


def main() -> None:
    print("| case | pairs | seconds |")
    print("|---|---|---|")
    for name, run in CASES.items():
        start = time.perf_counter()
        loaded = run()
        print(f"| {name} | {len(loaded.pairs):,} | {time.perf_counter() - start:.2f} |")
    positives = targetfinder.load(DatasetRequest(cell_lines=("GM12878",))).pairs
    positives = positives[positives["label"] == 1]
    start = time.perf_counter()
    table, _ = add_negatives(positives, ratio=20)
    print(f"| add_negatives, GM12878 positives, ratio 20 | {len(table):,} | {time.perf_counter() - start:.2f} |")


if __name__ == "__main__":
    main()
