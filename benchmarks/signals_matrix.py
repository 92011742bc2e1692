"""Cross-cell-line matrix of pooled AUROC from `epizoo bench --split transepi` runs, one run per
training cell line, as a table and a heatmap per model.

    python benchmarks/signals_matrix.py matrix-NHEK matrix-IMR90 ... --out docs/figures/signals-cross-cell.png

Each run trains on one cell line and tests every other one on TransEPI's held-out chromosome
groups; the pooled AUROC (all folds' test pairs at once) fills the cell train -> test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from epizoo.bench.report import build_report


def pooled_matrix(runs: list[Path]) -> pd.DataFrame:
    """One row per model, train and test cell line: pooled AUROC and AUPR."""
    frames = []
    for run in runs:
        pooled = build_report(run).pooled
        train_test = pooled["column"].str.split(" -> ", expand=True)
        frames.append(pooled.assign(train=train_test[0], test=train_test[1]))
    return pd.concat(frames, ignore_index=True)


def heatmaps(table: pd.DataFrame, out: Path) -> None:
    models = list(dict.fromkeys(table["model"]))
    lines = sorted(set(table["train"]) | set(table["test"]))
    figure, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.4), squeeze=False, gridspec_kw={"wspace": 0.5})
    for axis, model in zip(axes[0], models):
        grid = np.full((len(lines), len(lines)), np.nan)
        for row in table[table["model"] == model].itertuples():
            grid[lines.index(row.train), lines.index(row.test)] = row.auroc
        image = axis.imshow(grid, vmin=0.1, vmax=0.9, cmap="viridis")
        for i in range(len(lines)):
            for j in range(len(lines)):
                if not np.isnan(grid[i, j]):
                    axis.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="white" if grid[i, j] < 0.7 else "black", fontsize=8)
        axis.set_xticks(range(len(lines)), lines, rotation=45, ha="right")
        axis.set_yticks(range(len(lines)), lines)
        axis.set_xlabel("test cell line")
        axis.set_ylabel("training cell line")
        axis.set_title(model)
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="pooled AUROC")
    figure.savefig(out, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="heatmap PNG")
    args = parser.parse_args()
    table = pooled_matrix(args.runs)
    heatmaps(table, args.out)
    wide = table.pivot_table(index=["model", "train"], columns="test", values="auroc")
    print("| model | train | " + " | ".join(wide.columns) + " |")
    print("|---|---|" + "---|" * len(wide.columns))
    for (model, train), row in wide.iterrows():
        cells = ["" if np.isnan(v) else f"{v:.3f}" for v in row]
        print(f"| {model} | {train} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
