"""Plots of a run (matplotlib, Agg backend: no display needed), each as SVG (for print) and PNG
(:data:`PNG_DPI` dpi) under ``plots/``.

* ``curves_<cell line>.png``: ROC and PR curves of every model, one thin line per fold and a bold
  mean over folds (vertical averaging), so the figure shows what the per-fold tables summarise;
  one legend beside the panels gives the tables' mean ± SD over folds, and the chance lines;
* ``auroc_by_fold_<cell line>.png``: a models x folds heatmap of AUROC (chromosomes for LOCO);
* ``cross_cell_line_<model>.png``: a train x test cell-line AUROC matrix for cross-cell-line runs;
* ``learning_curves.png``: training loss and validation AUROC per epoch, one panel pair per model.

Every model keeps one colour in every plot of a run (:func:`model_colours`: glasbey's categorical
palette, distinct for hundreds of models, its first ten matplotlib's familiar ones). Legends sit
outside the axes. AUROC heatmaps use a diverging colour map centred at 0.5 (chance): blue above
chance, red below.
This module reads the run through :mod:`epizoo.bench.results` and never imports
:mod:`epizoo.bench.report` (which imports it): ``report`` passes itself in as ``report``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.bench.results import column_of, fold_learning, fold_predictions, group_of, learning_curves, mean_sd, metric_columns
from epizoo.bench.runner import safe_name
from epizoo.contigs import natural_order
from epizoo.files import into_place

AUROC_CMAP = "RdBu"  # diverging: red below chance, white at chance, blue above
AUROC_CHANCE = 0.5
LEARNING_CURVES_PNG = "learning_curves.png"
GRID = np.linspace(0.0, 1.0, 201)
PNG_DPI = 200
LEGEND_SIZE = 9  # points: readable in print, and the legend sits outside the axes, so it never covers a curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> str:
    """``path`` (a .png) at :data:`PNG_DPI` dpi and the same figure as SVG beside it, each renamed
    into place when complete; returns the PNG's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.set_dpi(PNG_DPI)  # a constrained layout is computed at this dpi, so both files agree
    for target in (path.with_suffix(".svg"), path):
        with into_place(target) as tmp:
            figure.savefig(tmp, format=target.suffix[1:], dpi=PNG_DPI, bbox_inches="tight",
                           metadata={"Date": None} if target.suffix == ".svg" else None)
    _pyplot().close(figure)
    return str(path)



def model_colours(models: list[str]) -> dict[str, str]:
    """One colour per model, by its place in ``models`` (the run's order), so that a model has the same
    colour in every plot of the run: glasbey_category10, matplotlib's ten colours then ones chosen to
    stay distinguishable from all before them."""
    from colorcet import glasbey_category10
    from matplotlib.colors import to_hex

    return {model: to_hex(glasbey_category10[index % len(glasbey_category10)]) for index, model in enumerate(models)}


def auroc_cmap():
    """The diverging AUROC colour map; cells without a value are grey, not the white of chance."""
    import matplotlib

    return matplotlib.colormaps[AUROC_CMAP].with_extremes(bad="#d0d0d0")


def auroc_norm():
    """AUROC colour scale: 0 to 1 with its centre, the neutral colour, at chance (0.5)."""
    from matplotlib.colors import TwoSlopeNorm

    return TwoSlopeNorm(vcenter=AUROC_CHANCE, vmin=0.0, vmax=1.0)


# ---- ROC and precision-recall -----------------------------------------------------------------
def mean_roc(folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Mean true positive rate over folds on ``GRID`` false positive rates (vertical averaging)."""
    rows = []
    for fpr, tpr in folds:
        row = np.interp(GRID, fpr, tpr)
        row[0] = 0.0
        rows.append(row)
    mean = np.mean(rows, axis=0)
    mean[-1] = 1.0
    return mean


def _step_precision(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Precision on ``GRID`` recalls: at recall r, that of the highest threshold reaching r (as AP steps)."""
    recall, precision = recall[::-1], precision[::-1]  # scikit-learn gives recall decreasing
    index = np.clip(np.searchsorted(recall, GRID, side="left"), 0, len(recall) - 1)
    return precision[index]


def mean_pr(folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Mean precision over folds on ``GRID`` recalls."""
    return np.mean([_step_precision(recall, precision) for recall, precision in folds], axis=0)


def _summary_row(report, model: str, column: str):
    rows = report.summary[(report.summary["model"] == model) & (report.summary["column"] == column)]
    return None if rows.empty else rows.iloc[0]


def curves_figure(report, cell_line: str, train_cell_line: str, regime: str = "specific"):
    """ROC and PR curves of each model on one cell line: one thin line per fold, a bold mean.

    None when no model has a fold with both classes to draw.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    group = group_of(cell_line, train_cell_line, regime)
    column = column_of(cell_line, train_cell_line, regime, labelled="regime" in report.summary)
    figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    colours = model_colours(report.models)
    drawn, rates, n_folds = 0, [], set()
    for model in report.models:
        roc_folds, pr_folds = [], []
        for _, table in fold_predictions(report.run, model, group):
            if table["label"].nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(table["label"], table["score"])
            precision, recall, _ = precision_recall_curve(table["label"], table["score"])
            roc_folds.append((fpr, tpr))
            pr_folds.append((recall, precision))
            rates.append(float(table["label"].mean()))
        if not roc_folds:
            continue
        colour = colours[model]
        for (fpr, tpr), (recall, precision) in zip(roc_folds, pr_folds):
            roc_axis.plot(fpr, tpr, color=colour, alpha=0.25, linewidth=0.7)
            pr_axis.plot(recall, precision, color=colour, alpha=0.25, linewidth=0.7)
        row = _summary_row(report, model, column)
        values = (f"\nAUROC {mean_sd(row['auroc_mean'], row['auroc_std'])}, AUPR {mean_sd(row['aupr_mean'], row['aupr_std'])}"
                  if row is not None else "")
        roc_axis.plot(GRID, mean_roc(roc_folds), color=colour, linewidth=2.2, label=f"{model}{values}")
        pr_axis.plot(GRID, mean_pr(pr_folds), color=colour, linewidth=2.2)
        drawn += 1
        n_folds.add(len(roc_folds))
    if not drawn:
        plt.close(figure)
        return None
    rate = float(np.mean(rates))
    roc_axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance: AUROC 0.5 (ROC diagonal)")
    pr_axis.axhline(rate, linestyle="--", color="grey", label=f"chance: AUPR = positive rate {rate:.3f}\n(PR, mean over folds)")
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    pr_axis.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    handles, labels = roc_axis.get_legend_handles_labels()
    more, extra = pr_axis.get_legend_handles_labels()
    # one legend for both panels, below them (the constrained layout makes room): it never covers a
    # curve or touches an axis label, and the figure grows with the number of models
    columns = min(3, len(handles) + len(more))
    figure.set_figheight(4.6 + 0.34 * math.ceil((len(handles) + len(more)) / columns))
    figure.legend(handles + more, labels + extra, loc="outside lower center", ncol=columns, fontsize=LEGEND_SIZE, frameon=False)
    folds = "/".join(str(n) for n in sorted(n_folds))
    figure.suptitle(
        f"{column}: thin lines are single folds ({folds} per model), bold lines their mean over folds\n"
        "legend values: mean ± SD over folds, as in the report tables (not pooled)",
        fontsize="medium",
    )
    return figure


def curves(report, cell_line: str, train_cell_line: str, regime: str = "specific") -> str | None:
    """``plots/curves_<cell line>.png`` (``curves_K562@gen.png``): see :func:`curves_figure`."""
    figure = curves_figure(report, cell_line, train_cell_line, regime)
    if figure is None:
        return None
    return save_figure(figure, report.run / "plots" / f"curves_{group_of(cell_line, train_cell_line, regime)}.png")


# ---- AUROC heatmaps ---------------------------------------------------------------------------
def _auroc_image(axis, matrix: pd.DataFrame, **options):
    image = axis.imshow(matrix.values, cmap=auroc_cmap(), norm=auroc_norm(), **options)
    _annotate(axis, matrix)
    return image


def fold_heatmap_figure(report, column: str):
    """The models x folds AUROC figure of one column, or None with fewer than two folds."""
    metrics = report.metrics
    rows = metrics[[label == column for label in metric_columns(metrics)]]
    matrix = rows.pivot_table(index="model", columns="fold", values="auroc", sort=False)
    if matrix.shape[1] < 2:
        return None
    matrix = matrix.reindex(index=[m for m in report.models if m in matrix.index], columns=_fold_order(matrix.columns))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.2 + 0.5 * matrix.shape[1], 1.2 + 0.45 * matrix.shape[0]))
    image = _auroc_image(axis, matrix, aspect="auto")
    figure.colorbar(image, ax=axis, label="AUROC (0.5 = chance)")
    axis.set_title(f"AUROC by held-out fold: {column}")
    return figure


def fold_heatmap(report, column: str) -> str | None:
    """Models x folds AUROC of one column (chromosomes under LOCO)."""
    figure = fold_heatmap_figure(report, column)
    if figure is None:
        return None
    return save_figure(figure, report.run / "plots" / f"auroc_by_fold_{safe_name(column)}.png")


def cross_matrix(report, model: str) -> str | None:
    """Train x test cell-line AUROC (mean over folds) of one model."""
    rows = report.summary[report.summary["model"] == model]
    if "regime" in rows:
        rows = rows[rows["regime"] == "specific"]  # a gen row's training cell lines are all of them
    matrix = rows.pivot_table(index="train_cell_line", columns="cell_line", values="auroc_mean")
    if matrix.empty:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.5 + 0.8 * matrix.shape[1], 1.2 + 0.6 * matrix.shape[0]))
    image = _auroc_image(axis, matrix)
    axis.set(xlabel="test cell line", ylabel="train cell line", title=f"{model}: cross-cell-line AUROC")
    figure.colorbar(image, ax=axis, label="AUROC (0.5 = chance)")
    return save_figure(figure, report.run / "plots" / f"cross_cell_line_{safe_name(model)}.png")


def _annotate(axis, matrix: pd.DataFrame) -> None:
    axis.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=90)
    axis.set_yticks(range(matrix.shape[0]), [str(i) for i in matrix.index])
    for (row, col), value in np.ndenumerate(matrix.values):
        if not np.isnan(value):
            dark = abs(value - AUROC_CHANCE) > 0.3  # the ends of the diverging map are dark
            axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color="white" if dark else "black")


def _fold_order(names) -> list[str]:
    """Contigs in natural order (chr2 before chr10, chrX after chr22), other fold names with digits as numbers."""
    return natural_order(names)


# ---- learning curves --------------------------------------------------------------------------
def _learning_panels(loss_axis, auroc_axis, model: str, tasks: pd.DataFrame, mean: pd.DataFrame, flags: pd.DataFrame,
                     colour: str = "C0") -> None:
    from matplotlib.ticker import MaxNLocator

    for axis, name in ((loss_axis, "loss"), (auroc_axis, "valid_auroc")):
        for _, task in tasks.groupby(["column", "fold"], sort=False):
            task = task.sort_values("epoch")
            axis.plot(task["epoch"], task[name], color=colour, alpha=0.3, linewidth=0.8, marker="o" if len(task) == 1 else None, markersize=3)
        finite = mean[mean[f"{name}_mean"].notna()]
        if not finite.empty:
            axis.plot(finite["epoch"], finite[f"{name}_mean"], color=colour, linewidth=2.2, marker="o", markersize=4 if len(finite) > 1 else 7, label="mean over folds")
        last = max(int(tasks["epoch"].max()), 1)
        if last <= 12:
            axis.set_xticks(range(1, last + 1))
        else:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlim(0.7, last + 0.3)
        axis.set_xlabel("epoch")
    if tasks["loss"].isna().all():
        text = "no training loss:\nfitted once (scikit-learn)" if tasks["epoch"].max() == 1 else "no training loss recorded"
        loss_axis.text(0.5, 0.5, text, ha="center", va="center", transform=loss_axis.transAxes, color="grey")
        loss_axis.set_yticks([])
    auroc_axis.axhline(AUROC_CHANCE, linestyle=":", color="grey", linewidth=1)
    values = tasks["valid_auroc"].dropna()
    low = min(values.min(), AUROC_CHANCE) if not values.empty else AUROC_CHANCE
    high = max(values.max(), AUROC_CHANCE) if not values.empty else AUROC_CHANCE
    auroc_axis.set_ylim(max(0.0, low - 0.05), min(1.02, high + 0.05))
    loss_axis.set_title(f"{model}: training loss", fontsize="medium")
    judged = flags["memorising"].dropna()
    flagged = int(sum(bool(v) for v in judged))
    title = f"{model}: valid AUROC"
    if flagged:
        title += f"\nmemorisation: {flagged} of {len(judged)} folds"
    auroc_axis.set_title(title, fontsize="medium", color="firebrick" if flagged else "black")


def learning_curves_figure(report):
    """Training loss and validation AUROC per epoch, one panel pair per model; None without histories."""
    histories = getattr(report, "histories", None)
    if histories is None or histories.empty:
        return None
    models = [m for m in report.models if m in set(histories["model"])]
    models += [m for m in dict.fromkeys(histories["model"]) if m not in models]
    means, flags = learning_curves(histories), fold_learning(histories)
    colours = model_colours([*report.models, *(m for m in models if m not in report.models)])
    pairs_per_row = 1 if len(models) <= 4 else 2
    n_rows = math.ceil(len(models) / pairs_per_row)
    plt = _pyplot()
    figure, axes = plt.subplots(n_rows, 2 * pairs_per_row, figsize=(7.5 * pairs_per_row, 2.8 * n_rows + 0.6), squeeze=False, layout="constrained")
    for index, model in enumerate(models):
        row, pair = divmod(index, pairs_per_row)
        _learning_panels(
            axes[row][2 * pair], axes[row][2 * pair + 1], model,
            histories[histories["model"] == model], means[means["model"] == model], flags[flags["model"] == model],
            colours[model],
        )
    for index in range(len(models), n_rows * pairs_per_row):  # an odd model count leaves one pair empty
        row, pair = divmod(index, pairs_per_row)
        axes[row][2 * pair].set_visible(False)
        axes[row][2 * pair + 1].set_visible(False)
    several = histories.groupby("model")[["column", "fold"]].apply(lambda tasks: len(tasks.drop_duplicates())).max() > 1
    lines = "thin lines single folds (every cell line), bold line their mean" if several else "one fold per model"
    figure.suptitle(f"Learning curves: {lines}; dotted: chance AUROC", fontsize="medium")
    return figure


def learning_curves_plot(report) -> str | None:
    figure = learning_curves_figure(report)
    if figure is None:
        return None
    return save_figure(figure, report.run / "plots" / LEARNING_CURVES_PNG)


def make_plots(report) -> list[str]:
    """Every plot that fits the run; the paths written, relative to the run directory."""
    written = []
    keys = ["cell_line", "train_cell_line", *(["regime"] if "regime" in report.summary else [])]
    for key in report.summary[keys].drop_duplicates().itertuples(index=False):
        written.append(curves(report, *key))
    written += [fold_heatmap(report, column) for column in report.columns]
    specific = report.summary[report.summary["regime"] == "specific"] if "regime" in report.summary else report.summary
    if (specific["cell_line"] != specific["train_cell_line"]).any():
        written += [cross_matrix(report, model) for model in report.models]
    written.append(learning_curves_plot(report))
    return [str(Path(p).relative_to(report.run)) for p in written if p]
