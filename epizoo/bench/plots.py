"""PNG plots of a run (matplotlib, Agg backend: no display needed).

* ``curves_<cell line>.png``: ROC and PR curves of every model, pooled over the folds;
* ``auroc_by_fold_<cell line>.png``: a models x folds heatmap of AUROC (chromosomes for LOCO);
* ``cross_cell_line_<model>.png``: a train x test cell-line AUROC matrix for cross-cell-line runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.bench.runner import safe_name


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _pyplot().close(figure)
    return str(path)


def _pooled_predictions(run: Path, model: str, group: str) -> pd.DataFrame | None:
    from epizoo.bench.report import read_predictions

    files = sorted((run / "predictions" / model / group).glob("*.tsv"))
    if not files:
        return None
    return pd.concat([read_predictions(f) for f in files], ignore_index=True)


def curves(report, cell_line: str, train_cell_line: str) -> str | None:
    """ROC and PR curves of each model on one cell line, pooled over its folds."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from epizoo.bench.report import column_of

    plt = _pyplot()
    group = safe_name(cell_line) if cell_line == train_cell_line else f"{safe_name(train_cell_line)}-to-{safe_name(cell_line)}"
    figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(10, 4.5))
    drawn, rate = 0, None
    for model in report.models:
        table = _pooled_predictions(report.run, model, group)
        if table is None or table["label"].nunique() < 2:
            continue
        fpr, tpr, _ = roc_curve(table["label"], table["score"])
        precision, recall, _ = precision_recall_curve(table["label"], table["score"])
        roc_axis.plot(fpr, tpr, label=model)
        pr_axis.plot(recall, precision, label=model)
        rate, drawn = float(table["label"].mean()), drawn + 1
    if not drawn:
        plt.close(figure)
        return None
    roc_axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    pr_axis.axhline(rate, linestyle=":", color="grey", label=f"positive rate {rate:.3f}")
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (pooled over folds)")
    pr_axis.set(xlabel="recall", ylabel="precision", title="Precision-recall (pooled over folds)", ylim=(0, 1.02))
    pr_axis.legend(fontsize="small")
    figure.suptitle(column_of(cell_line, train_cell_line))
    return _save(figure, report.run / "plots" / f"curves_{group}.png")


def fold_heatmap(report, column: str) -> str | None:
    """Models x folds AUROC of one column (chromosomes under LOCO)."""
    from epizoo.bench.report import column_of

    metrics = report.metrics
    rows = metrics[[column_of(c, t) == column for c, t in zip(metrics["cell_line"], metrics["train_cell_line"])]]
    matrix = rows.pivot_table(index="model", columns="fold", values="auroc", sort=False)
    if matrix.shape[1] < 2:
        return None
    matrix = matrix.reindex(index=[m for m in report.models if m in matrix.index], columns=_fold_order(matrix.columns))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.2 + 0.5 * matrix.shape[1], 1.2 + 0.45 * matrix.shape[0]))
    image = axis.imshow(matrix.values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    _annotate(axis, matrix)
    figure.colorbar(image, ax=axis, label="AUROC")
    axis.set_title(f"AUROC by held-out fold: {column}")
    return _save(figure, report.run / "plots" / f"auroc_by_fold_{safe_name(column)}.png")


def cross_matrix(report, model: str) -> str | None:
    """Train x test cell-line AUROC (mean over folds) of one model."""
    rows = report.summary[report.summary["model"] == model]
    matrix = rows.pivot_table(index="train_cell_line", columns="cell_line", values="auroc_mean")
    if matrix.empty:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.5 + 0.8 * matrix.shape[1], 1.2 + 0.6 * matrix.shape[0]))
    image = axis.imshow(matrix.values, cmap="viridis", vmin=0.0, vmax=1.0)
    _annotate(axis, matrix)
    axis.set(xlabel="test cell line", ylabel="train cell line", title=f"{model}: cross-cell-line AUROC")
    figure.colorbar(image, ax=axis, label="AUROC")
    return _save(figure, report.run / "plots" / f"cross_cell_line_{safe_name(model)}.png")


def _annotate(axis, matrix: pd.DataFrame) -> None:
    axis.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=90)
    axis.set_yticks(range(matrix.shape[0]), [str(i) for i in matrix.index])
    for (row, col), value in np.ndenumerate(matrix.values):
        if not np.isnan(value):
            axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")


def _fold_order(names) -> list[str]:
    """chr2 before chr10: digits compare as numbers."""
    import re

    def key(name: str):
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]

    return sorted((str(n) for n in names), key=key)


def make_plots(report) -> list[str]:
    """Every plot that fits the run; the paths written, relative to the run directory."""
    written = []
    pairs = report.summary[["cell_line", "train_cell_line"]].drop_duplicates().itertuples(index=False)
    for cell_line, train_cell_line in pairs:
        written.append(curves(report, cell_line, train_cell_line))
    written += [fold_heatmap(report, column) for column in report.columns]
    if (report.summary["cell_line"] != report.summary["train_cell_line"]).any():
        written += [cross_matrix(report, model) for model in report.models]
    return [str(Path(p).relative_to(report.run)) for p in written if p]
