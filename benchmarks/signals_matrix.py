"""Cross-cell-line matrix of pooled AUROC from `epizoo bench --split transepi` runs, one run per
training cell line, as a table and a heatmap per model.

    python benchmarks/signals_matrix.py matrix-NHEK matrix-IMR90 ... --out docs/figures/signals-cross-cell.png
    python benchmarks/signals_matrix.py --table docs/figures/signals-cross-cell.tsv --out docs/figures/signals-cross-cell.png
    python benchmarks/signals_matrix.py norm-NHEK ... cc-NHEK ... --rename "targetfinder-xgb=targetfinder-xgb (log1p store)" --out ...

Each run trains on one cell line and tests every other one on TransEPI's held-out chromosome
groups; the pooled AUROC (all folds' test pairs at once) fills the cell train -> test. From runs,
the matrix is also written as a TSV beside the figure (model, train, test, auroc), from which
``--table`` redraws the figure without the runs. ``--rename OLD=NEW`` names a model
in the table and figure (runs of one model on another store, say). The figure is written as SVG and PNG, on the
report's diverging AUROC scale centred on chance (0.5), so below-chance cells read as such.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.bench.plots import AUROC_CHANCE, _pyplot, auroc_cmap, auroc_norm, save_figure
from epizoo.bench.report import build_report


def pooled_matrix(runs: list[Path]) -> pd.DataFrame:
    """One row per model, train and test cell line: pooled AUROC."""
    frames = []
    for run in runs:
        pooled = build_report(run).pooled
        train_test = pooled["column"].str.split(" -> ", expand=True)
        frames.append(pooled.assign(train=train_test[0], test=train_test[1]))
    return pd.concat(frames, ignore_index=True)[["model", "train", "test", "auroc"]]


def heatmaps(table: pd.DataFrame, out: Path) -> None:
    plt = _pyplot()
    models = list(dict.fromkeys(table["model"]))
    lines = sorted(set(table["train"]) | set(table["test"]))
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models) + 1.2, 4.4), squeeze=False, layout="constrained")
    for axis, model in zip(axes[0], models):
        grid = np.full((len(lines), len(lines)), np.nan)
        for row in table[table["model"] == model].itertuples():
            grid[lines.index(row.train), lines.index(row.test)] = row.auroc
        image = axis.imshow(grid, cmap=auroc_cmap(), norm=auroc_norm())  # grey: not tested (train = test)
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):  # the ends of the diverging map are dark
                colour = "white" if abs(value - AUROC_CHANCE) > 0.3 else "black"
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=8)
        axis.set_xticks(range(len(lines)), lines, rotation=45, ha="right")
        axis.set_yticks(range(len(lines)), lines)
        axis.set_xlabel("test cell line")
        axis.set_ylabel("training cell line")
        axis.set_title(model)
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="pooled AUROC (0.5 = chance; red below)")
    save_figure(figure, out.with_suffix(".png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--table", type=Path, help="redraw from a matrix TSV written before, instead of runs")
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="show model OLD as NEW")
    parser.add_argument("--out", type=Path, required=True, help="heatmap PNG (an SVG is written beside it)")
    args = parser.parse_args()
    if bool(args.runs) == bool(args.table):
        parser.error("give run directories or --table, one of them")
    if args.table:
        table = pd.read_csv(args.table, sep="\t")
    else:
        table = pooled_matrix(args.runs)
        if any("=" not in item for item in args.rename):
            parser.error("--rename takes OLD=NEW, e.g. --rename 'targetfinder-xgb=targetfinder-xgb, log1p store'")
        names = dict(item.split("=", 1) for item in args.rename)
        table["model"] = table["model"].replace(names)
        table.to_csv(args.out.with_suffix(".tsv"), sep="\t", index=False, float_format="%.3f")
    heatmaps(table, args.out)
    wide = table.pivot_table(index=["model", "train"], columns="test", values="auroc")
    print("| model | train | " + " | ".join(wide.columns) + " |")
    print("|---|---|" + "---|" * len(wide.columns))
    for (model, train), row in wide.iterrows():
        cells = ["" if np.isnan(v) else f"{v:.3f}" for v in row]
        print(f"| {model} | {train} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
