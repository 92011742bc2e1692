"""``epizoo report``: the table the papers print, from a run directory, plus plots.

Rows are models, columns cell lines (``train -> test`` for cross-cell-line runs); each cell is
the mean ± standard deviation over folds (sample SD, ddof=1; a single fold shows no SD). AUPR is
printed beside the test positive rate, the AUPR of chance, because an AUPR means little without
it. Beside them: pooled AUROC and AUPR with 95 % bootstrap confidence intervals, precision at
70 % recall, a paired Wilcoxon test of every model against the best one across folds
(:mod:`epizoo.bench.stats`), F1 and MCC at a threshold chosen on each fold's validation side,
and the run's provenance. ``report.md``, ``report.tsv`` and the plots (SVG and PNG) are written
into the run directory.
``report.md`` also has the learning curves of each model (from the tasks' epoch histories) with
a memorisation flag per model (see :data:`epizoo.bench.results.MEMORISATION_RULE`).

Reading the run directory lives in :mod:`epizoo.bench.results`; this module imports
:mod:`epizoo.bench.plots`, which never imports this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from epizoo import console
from epizoo.bench.config import CONTROL_LABELS
from epizoo.bench.maps_report import MapsReport, is_maps_run, maps_json, print_maps_report, write_maps_report
from epizoo.bench.plots import LEARNING_CURVES_PNG, make_plots
from epizoo.bench.results import (
    BUDGET_COLUMNS,
    MEMORISATION_RULE,
    budget_notes,
    budget_summary,
    column_of,
    learning_curves,
    learning_summary,
    load_histories,
    load_provenance,
    load_run,
    mean_sd,
    metric_columns,
    pooled_metrics,
    read_predictions,
    regime_order,
    regimes_of,
)
from epizoo.bench.stats import CI_TEXT, MIN_FOLDS_FOR_TEST, paired_comparisons
from epizoo.files import write_text

__all__ = ["Report", "build_report", "column_of", "load_run", "read_predictions", "summarise", "write_report"]

SUMMARY_METRICS = (
    "auroc", "aupr", "positive_rate", "aupr_ratio", "precision_at_70_recall", "f1", "mcc",
    "valid_threshold", "f1_at_valid_threshold", "mcc_at_valid_threshold",
)


@dataclass
class Report:
    run: Path
    split: str
    metrics: pd.DataFrame  # one row per model x cell line x fold
    summary: pd.DataFrame  # one row per model x column
    skipped: pd.DataFrame
    histories: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per task x epoch; empty for older runs
    plots: list[str] = field(default_factory=list)
    pooled: pd.DataFrame = field(default_factory=pd.DataFrame)  # metrics over all folds' predictions, with CIs
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)  # each model against its column's best, across folds
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def learning(self) -> pd.DataFrame:
        """Per model: epochs, final training loss, best validation AUROC, memorisation flag."""
        return learning_summary(self.histories)

    @property
    def budgets(self) -> pd.DataFrame:
        """Per model and column: training pairs, items seen, epochs, seconds and stop reasons."""
        return budget_summary(self.metrics)

    @property
    def curves(self) -> pd.DataFrame:
        """Per model and epoch: mean and SD over folds of the training loss and validation AUROC."""
        return learning_curves(self.histories)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.summary["model"]))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.summary["column"]))


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample SD over folds of each summary metric, per model and column.

    With regimes other than specific, a column is a cell line x regime (``K562 (gen)``), ordered
    cell line by cell line, specific, gen, best, and the summary has a ``regime`` column.
    """
    regimes = set(regimes_of(metrics)) != {"specific"}
    metrics = metrics.assign(column=metric_columns(metrics))
    keys = ["model", "column", "cell_line", "train_cell_line"]
    if regimes:
        metrics = metrics.assign(regime=regimes_of(metrics), order=regime_order(metrics))
        metrics = metrics.sort_values("order", kind="stable")
        keys.append("regime")
    grouped = metrics.groupby(keys, sort=False)
    summary = grouped.size().rename("n_folds").reset_index()
    for name in SUMMARY_METRICS:
        if name not in metrics:  # a run directory written before the metric was recorded
            summary[f"{name}_mean"] = summary[f"{name}_std"] = float("nan")
            continue
        stats = grouped[name].agg(["mean", "std"]).reset_index(drop=True)
        summary[f"{name}_mean"], summary[f"{name}_std"] = stats["mean"].values, stats["std"].values
    return summary


def build_report(run: str | Path) -> Report:
    metrics, config, skipped = load_run(run)
    split = config.get("config", {}).get("split", "")
    return Report(
        Path(run), split, metrics, summarise(metrics), skipped, load_histories(run, metrics),
        pooled=pooled_metrics(run, metrics), paired=paired_comparisons(metrics, metric_columns(metrics)),
        provenance=load_provenance(run, config),
    )


# ---- text -------------------------------------------------------------------------------------
def _cell(report: Report, model: str, column: str, metric: str) -> str:
    rows = report.summary[(report.summary["model"] == model) & (report.summary["column"] == column)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    text = mean_sd(row[f"{metric}_mean"], row[f"{metric}_std"])
    if metric == "aupr":
        text += f" (pos. rate {row['positive_rate_mean']:.3f})"
    return text


def table_rows(report: Report, metric: str) -> list[list[str]]:
    return [[model, *(_cell(report, model, column, metric) for column in report.columns)] for model in report.models]


def markdown(report: Report) -> str:
    lines = [f"# Benchmark report: {report.run.name}", ""]
    if report.split:
        lines += [f"Split `{report.split}`; mean ± SD over folds (folds per cell: {_fold_counts(report)}).", ""]
    for metric, title in (("auroc", "AUROC"), ("aupr", "AUPR (beside the test positive rate, the AUPR of chance)")):
        lines += [f"## {title}", "", "| model | " + " | ".join(report.columns) + " |", "|---" * (len(report.columns) + 1) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(report, metric)]
        lines.append("")
    lines += pooled_markdown(report)
    lines += paired_markdown(report)
    lines += threshold_markdown(report)
    lines += budget_markdown(report)
    lines += regime_markdown(report)
    if not report.skipped.empty:
        lines += ["## Skipped folds", "", "| cell line | fold | reason |", "|---|---|---|"]
        lines += [f"| {column_of(r.cell_line, r.train_cell_line)} | {r.fold} | {r.reason} |" for r in report.skipped.itertuples()]
        lines.append("")
    lines += learning_markdown(report)
    others = [p for p in report.plots if Path(p).name != LEARNING_CURVES_PNG and p.endswith(".png")]
    if others:
        lines += ["## Plots", "", "Each plot is also written as SVG beside its PNG (`plots/*.svg`), for print.", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in others] + [""]
    lines += provenance_markdown(report)
    return "\n".join(lines)


BUDGET_HEADER = ["model", "column", "folds", "training pairs", "items seen", "epochs run", "epochs allowed", "seconds", "stopped by"]
BUDGET_TEXT = (
    "What each model was given and used, as ranges over folds: its training pairs, the items it went through "
    "(every epoch, shifted copies of positives included), epochs run and allowed, training seconds, and why it "
    "stopped (epochs: all allowed epochs ran; early_stopping: validation stopped improving; budget: the "
    "wall-clock budget ran out; fitted: a scikit-learn model, fitted once)."
)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a markdown table: its header, the rule, one line per row."""
    return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|", *("| " + " | ".join(row) + " |" for row in rows)]


def budget_rows(report: Report) -> list[list[str]]:
    return [[str(row[name]) for name in BUDGET_COLUMNS] for row in report.budgets.to_dict(orient="records")]


def budget_markdown(report: Report) -> list[str]:
    lines = ["## Budgets", "", BUDGET_TEXT, "", *(f"* {note}" for note in budget_notes(report.metrics)), ""]
    return lines + markdown_table(BUDGET_HEADER, budget_rows(report)) + [""]


REGIME_TEXT = (
    "Regimes: *specific* trains one model per cell line and fold; *gen* one model per fold on the union of "
    "all cell lines' training sides, scored on each cell line's test side; *best* fine-tunes that fold's gen "
    "weights on each cell line's training side."
)


def refitted_models(report: Report) -> list[str]:
    """Models whose best rows were refitted from scratch (scikit-learn: no fine-tuning), so best equals specific."""
    metrics = report.metrics
    if "fine_tuned" not in metrics or "regime" not in metrics:
        return []
    refits = metrics[(metrics["regime"] == "best") & (metrics["fine_tuned"].astype(str).str.lower() == "false")]
    return list(dict.fromkeys(refits["model"]))


CONTROL_TEXT = (
    "*random split: leaks* is a positive control (--control random): one pair-level random fold per cell line, "
    "so the test pairs' enhancers and promoters also sit in training pairs. It rewards memorisation: a model "
    "above chance there and at chance under the chosen split can fit the data but does not generalise to "
    "unseen elements."
)


def regime_notes(report: Report) -> list[str]:
    if "regime" not in report.summary:
        return []
    present = set(report.summary["regime"])
    notes = [CONTROL_TEXT] if present & set(CONTROL_LABELS) else []
    if not present - {"specific", *CONTROL_LABELS}:
        return notes
    notes.insert(0, REGIME_TEXT)
    refits = refitted_models(report)
    if refits:
        notes.append(f"{', '.join(refits)}: scikit-learn, no fine-tuning; their best column refits on the cell line's "
                     "training side, so it equals specific.")
    return notes


def regime_markdown(report: Report) -> list[str]:
    notes = regime_notes(report)
    title = "## Regimes" if REGIME_TEXT in notes else "## Positive control"
    return [title, "", *(f"{note}\n" for note in notes)] if notes else []


def _with_ci(value: float, low: float, high: float) -> str:
    """``0.712 [0.690, 0.733]``; ``n/a`` without a value."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.3f}" if math.isnan(low) else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def pooled_rows(report: Report) -> list[list[str]]:
    return [
        [r.model, r.column, _with_ci(r.auroc, r.auroc_low, r.auroc_high), _with_ci(r.aupr, r.aupr_low, r.aupr_high),
         f"{r.positive_rate:.3f}", _number(r.precision_at_70_recall), f"{r.pairs:,}", str(r.n_folds)]
        for r in report.pooled.itertuples()
    ]


POOLED_HEADER = ["model", "column", "AUROC [95% CI]", "AUPR [95% CI]", "pos. rate", "precision at 70% recall", "test pairs", "folds"]
POOLED_TEXT = (
    "AUROC and AUPR over every fold's test pairs at once (TransEPI's way of reporting), in brackets their "
    f"{CI_TEXT}. Precision at 70% recall: the share of true interactions among the top-scored pairs when "
    "enough are kept to recover 70% of them (the operating point of the ENCODE-rE2G CRISPR benchmarks); "
    "chance is the positive rate."
)


def pooled_markdown(report: Report) -> list[str]:
    if report.pooled.empty:
        return []
    lines = ["## Pooled over folds, with confidence intervals", "", POOLED_TEXT, ""]
    return lines + markdown_table(POOLED_HEADER, pooled_rows(report)) + [""]


PAIRED_HEADER = ["column", "model", "best model", "folds", "AUROC difference (mean)", "best wins", "Wilcoxon p", "note"]
PAIRED_TEXT = (
    "Each model against the column's best (highest mean AUROC over folds): the Wilcoxon signed-rank test "
    "(two-sided) of the per-fold AUROC differences, on the folds both models scored. The difference is the best "
    f"model's AUROC minus the model's. With fewer than {MIN_FOLDS_FOR_TEST} folds the test cannot reach p < 0.05 "
    "however large the differences: a high p there is no evidence that the models are equal; the pooled intervals "
    "above say more."
)


def paired_rows(report: Report) -> list[list[str]]:
    return [
        [r.column, r.model, r.best, str(r.n_folds), _number(r.mean_difference), f"{r.wins} of {r.n_folds}",
         _number(r.p_value, 3), r.note or ""]
        for r in report.paired.itertuples()
    ]


def paired_markdown(report: Report) -> list[str]:
    if report.paired.empty:
        return []
    lines = ["## Paired comparison with the best model", "", PAIRED_TEXT, ""]
    return lines + markdown_table(PAIRED_HEADER, paired_rows(report)) + [""]


THRESHOLD_TEXT = (
    "F1 and MCC need a threshold. Most models' scores are not calibrated to 0.5 (trained on balanced or "
    "shift-augmented pairs, or on few epochs, they score nearly every test pair below or above it), so at 0.5 "
    "F1 and MCC are often 0 without saying anything about ranking. Here each fold's threshold is the one of "
    "maximal F1 on that fold's validation side, chosen before the test side is seen, and applied to the test "
    "pairs. Mean ± SD over folds; the 0.5 values are kept for comparison with the papers' tables."
)
THRESHOLD_HEADER = ["model", "column", "threshold (validation)", "F1", "MCC", "F1 at 0.5", "MCC at 0.5"]


def threshold_rows(report: Report) -> list[list[str]]:
    rows = []
    for r in report.summary.to_dict(orient="records"):
        rows.append([r["model"], r["column"], *(mean_sd(r[f"{name}_mean"], r[f"{name}_std"]) for name in (
            "valid_threshold", "f1_at_valid_threshold", "mcc_at_valid_threshold", "f1", "mcc"))])
    return rows


def threshold_markdown(report: Report) -> list[str]:
    lines = ["## Thresholded metrics", "", THRESHOLD_TEXT, ""]
    if report.summary["valid_threshold_mean"].isna().all():
        lines += ["This run directory predates validation thresholds: only the 0.5 values are available.", ""]
    return lines + markdown_table(THRESHOLD_HEADER, threshold_rows(report)) + [""]


def learning_rows(report: Report) -> list[list[str]]:
    """model, folds, epochs run, final training loss, best validation AUROC, memorisation."""
    rows = []
    for row in report.learning.itertuples(index=False):
        epochs = str(row.epochs_min) if row.epochs_min == row.epochs_max else f"{row.epochs_min}–{row.epochs_max}"
        loss = mean_sd(row.final_loss_mean, row.final_loss_std, 4)
        if loss == "n/a" and row.epochs_max == 1:
            loss = "n/a (fitted once)"
        if not row.judged_folds:
            flag = "n/a (one epoch)" if row.epochs_max == 1 else "n/a"
        elif row.memorising_folds:
            flag = f"**yes**: {row.memorising_folds} of {row.judged_folds} folds"
        else:
            flag = f"no (0 of {row.judged_folds} folds)"
        rows.append([row.model, str(row.n_folds), epochs, loss, mean_sd(row.best_valid_auroc_mean, row.best_valid_auroc_std), flag])
    return rows


def learning_markdown(report: Report) -> list[str]:
    lines = ["## Learning curves", ""]
    if report.histories.empty:
        return lines + ["No epoch histories in this run (a run directory written before they were recorded).", ""]
    png = next((p for p in report.plots if Path(p).name == LEARNING_CURVES_PNG), None)
    if png:
        lines += [f"![learning curves]({png})", ""]
    lines += [
        "Training loss and validation AUROC per epoch, one panel pair per model: thin lines are single folds "
        "(every fold of every cell line), the bold line is their mean, at each epoch over the folds that ran it "
        "(early stopping ends some folds sooner). scikit-learn models are fitted once: one point, no training loss. "
        "Final train loss and best valid AUROC are mean ± SD over folds of each fold's last loss and best AUROC.",
        "",
        "| model | folds | epochs | final train loss | best valid AUROC | memorisation |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in learning_rows(report)]
    lines += ["", f"Memorisation: {MEMORISATION_RULE}.", ""]
    return lines


def provenance_markdown(report: Report) -> list[str]:
    """The run's command, store, versions, devices and the models left out."""
    recorded = report.provenance
    if not recorded:
        return []
    environment, store = recorded.get("environment") or {}, recorded.get("store") or {}
    lines = ["## Provenance", ""]
    if not recorded.get("recorded"):
        lines += ["This run directory predates provenance.json: the store hash, plugin versions and models left out were "
                  "not recorded.", ""]
    lines += [f"* command: `{recorded.get('command') or 'n/a'}`",
              f"* store: `{store.get('path') or 'n/a'}`; manifest sha256 `{store.get('manifest_sha256') or 'n/a'}`; "
              f"identity `{store.get('identity') or 'n/a'}`"]
    versions = ", ".join(f"{name} {environment[name]}" for name in ("epizoo", "torch", "numpy", "scikit-learn", "python") if environment.get(name))
    lines.append(f"* versions: {versions or 'n/a'}")
    plugins = recorded.get("plugins") or {}
    if plugins:
        lines.append("* plugins: " + ", ".join(f"{name} {version or '(no version)'}" for name, version in plugins.items()))
    machine = [environment.get(name) for name in ("cpu", "platform") if environment.get(name)]
    gpus = environment.get("cuda_devices") or []
    lines.append(f"* machine: {'; '.join(map(str, machine)) or 'n/a'}; GPUs: {', '.join(gpus) or 'none'}; "
                 f"torch threads {environment.get('threads', 'n/a')}; --device {environment.get('device', 'n/a')}")
    runtimes = recorded.get("models") or {}
    if runtimes:
        lines.append("* device and precision per model: " + "; ".join(
            f"{model} {'/'.join(entry['device']) or 'n/a'} {'/'.join(entry['precision']) or '(scikit-learn)'}"
            for model, entry in runtimes.items()))
    lines.append("* budgets and stopping reasons: the Budgets section above")
    skipped = recorded.get("skipped_models") or []
    if skipped:
        lines += ["", "Models `--models all` left out:", "", "| model | reason |", "|---|---|"]
        lines += [f"| {entry['model']} | {entry['reason']} |" for entry in skipped]
    elif recorded.get("recorded"):
        lines.append("* models left out: none")
    return lines + [""]


def _fold_counts(report: Report) -> str:
    counts = sorted(set(report.summary["n_folds"].tolist()))
    return ", ".join(str(c) for c in counts)


def rich_tables(report: Report) -> list:
    from rich.table import Table

    tables = []
    for metric, title in (("auroc", "AUROC (mean ± SD over folds)"), ("aupr", "AUPR (mean ± SD; test positive rate)")):
        table = Table(title=title)
        table.add_column("model", style="bold")
        for column in report.columns:
            table.add_column(column, justify="right")
        for row in table_rows(report, metric):
            table.add_row(*row)
        tables.append(table)
    table = Table(title="Budgets (ranges over folds; report.md has more)")
    shown = [BUDGET_HEADER.index(name) for name in ("model", "column", "training pairs", "items seen", "epochs run", "seconds", "stopped by")]
    for index in shown:
        name = BUDGET_HEADER[index]
        table.add_column(name, justify="left" if name in ("model", "column", "stopped by") else "right")
    for row in budget_rows(report):
        table.add_row(*(row[index] for index in shown))
    tables.append(table)
    if not report.pooled.empty:
        table = Table(title=f"Pooled over folds ({CI_TEXT})")
        for name in POOLED_HEADER:
            table.add_column(name, justify="left" if name in ("model", "column") else "right")
        for row in pooled_rows(report):
            table.add_row(*row)
        tables.append(table)
    if not report.paired.empty:
        table = Table(title="Paired with the best model across folds (Wilcoxon signed-rank on AUROC; report.md explains)")
        for name in PAIRED_HEADER[:-1]:  # the notes are printed once, below the tables
            table.add_column(name, justify="left" if name in ("column", "model", "best model") else "right")
        for row in paired_rows(report):
            table.add_row(*row[:-1])
        tables.append(table)
    return tables


def as_json(report: Report) -> dict[str, Any]:
    if isinstance(report, MapsReport):
        return maps_json(report)
    summary = report.summary.astype(object).where(report.summary.notna(), None)
    return {
        "run": str(report.run),
        "split": report.split,
        "summary": summary.to_dict(orient="records"),
        "skipped": report.skipped.to_dict(orient="records"),
        "plots": report.plots,
        "learning": _records(report.learning),
        "learning_curves": _records(report.curves),
        "pooled": _records(report.pooled),
        "paired": _records(report.paired),
        "statistics_notes": [POOLED_TEXT, PAIRED_TEXT, THRESHOLD_TEXT],
        "provenance": report.provenance,
        "budgets": _records(report.budgets),
        "budget_notes": budget_notes(report.metrics),
        **({"regimes": list(dict.fromkeys(report.summary["regime"])), "regime_notes": regime_notes(report)} if "regime" in report.summary else {}),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


# ---- writing ----------------------------------------------------------------------------------
def write_report(run: str | Path) -> Report:
    """Build the report of ``run`` and write report.md, report.tsv and the plots into it (a contact-map
    benchmark's: :mod:`epizoo.bench.maps_report`)."""
    if is_maps_run(run):
        return write_maps_report(run)
    report = build_report(run)
    report.plots = make_plots(report)
    write_text(report.run / "report.tsv", report.summary.to_csv(sep="\t", index=False, float_format="%.6g"))
    write_text(report.run / "report.md", markdown(report))
    return report


def print_report(report: Report) -> None:
    if isinstance(report, MapsReport):
        return print_maps_report(report)

    for table in rich_tables(report):
        console.stdout.print(table)
    for note in dict.fromkeys(note for note in report.paired.get("note", []) if note):
        console.stdout.print(f"paired test: {note}")
    for note in budget_notes(report.metrics):
        console.stdout.print(note.replace("**", ""))
    for note in regime_notes(report):
        if note != REGIME_TEXT:
            console.stdout.print(note.replace("*", ""))
    if not report.skipped.empty:
        console.stdout.print(f"{len(report.skipped)} fold(s) skipped; see {report.run / 'report.md'}")
    learning = report.learning
    flagged = learning[learning["memorisation"].astype(bool)]
    if not flagged.empty:
        models = ", ".join(f"{r.model} ({r.memorising_folds} of {r.judged_folds} folds)" for r in flagged.itertuples())
        console.stdout.print(f"memorisation flagged (training loss falls, validation AUROC flat near chance): {models}")
    console.stdout.print(f"written: {report.run / 'report.md'}, {report.run / 'report.tsv'}, {len(report.plots)} plot(s)")
