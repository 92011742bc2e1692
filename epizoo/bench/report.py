"""``epizoo report``: the table the papers print, from a run directory, plus plots.

Rows are models, columns cell lines (``train -> test`` for cross-cell-line runs); each cell is
the mean ± standard deviation over folds (sample SD, ddof=1; a single fold shows no SD). AUPR is
printed beside the test positive rate, the AUPR of chance, because an AUPR means little without
it. ``report.md``, ``report.tsv`` and the PNG plots are written into the run directory.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from epizoo.errors import InputFileError
from epizoo.training.checkpoint import atomic_write_text

SUMMARY_METRICS = ("auroc", "aupr", "positive_rate", "aupr_ratio", "f1", "mcc")


@dataclass
class Report:
    run: Path
    split: str
    metrics: pd.DataFrame  # one row per model x cell line x fold
    summary: pd.DataFrame  # one row per model x column
    skipped: pd.DataFrame
    plots: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.summary["model"]))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.summary["column"]))


def read_predictions(path: Path) -> pd.DataFrame:
    """A prediction table, skipping its ``#`` provenance header."""
    with open(path) as handle:
        header_lines = 0
        for line in handle:
            if not line.startswith("#"):
                break
            header_lines += 1
    return pd.read_csv(path, sep="\t", skiprows=header_lines)


def column_of(cell_line: str, train_cell_line: str) -> str:
    return str(cell_line) if str(train_cell_line) == str(cell_line) else f"{train_cell_line} -> {cell_line}"


def load_run(run: str | Path) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """metrics.tsv, config.json and skipped.tsv of a run; one clear line when it is not a run."""
    run = Path(run)
    metrics_path = run / "metrics.tsv"
    if not run.is_dir():
        raise InputFileError(f"run directory {run} does not exist; run `epizoo bench --out {run}` first")
    if not metrics_path.is_file() or metrics_path.stat().st_size == 0:
        raise InputFileError(f"{run} has no results yet (metrics.tsv missing or empty); run or resume `epizoo bench --out {run}`")
    metrics = pd.read_csv(metrics_path, sep="\t", dtype={"cell_line": str, "train_cell_line": str, "fold": str})
    if metrics.empty:
        raise InputFileError(f"{run} has no finished task yet; resume it with `epizoo bench ... --out {run} --resume`")
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    skipped_path = run / "skipped.tsv"
    skipped = pd.read_csv(skipped_path, sep="\t", dtype=str) if skipped_path.is_file() and skipped_path.stat().st_size else pd.DataFrame()
    return metrics, config, skipped


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample SD over folds of each summary metric, per model and column."""
    metrics = metrics.assign(column=[column_of(c, t) for c, t in zip(metrics["cell_line"], metrics["train_cell_line"])])
    keys = ["model", "column", "cell_line", "train_cell_line"]
    grouped = metrics.groupby(keys, sort=False)
    summary = grouped.size().rename("n_folds").reset_index()
    for name in SUMMARY_METRICS:
        stats = grouped[name].agg(["mean", "std"]).reset_index(drop=True)
        summary[f"{name}_mean"], summary[f"{name}_std"] = stats["mean"].values, stats["std"].values
    return summary


def build_report(run: str | Path) -> Report:
    metrics, config, skipped = load_run(run)
    split = config.get("config", {}).get("split", "")
    return Report(Path(run), split, metrics, summarise(metrics), skipped)


# ---- text -------------------------------------------------------------------------------------
def _mean_sd(mean: float, sd: float) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if sd is None or math.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


def _cell(report: Report, model: str, column: str, metric: str) -> str:
    rows = report.summary[(report.summary["model"] == model) & (report.summary["column"] == column)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    text = _mean_sd(row[f"{metric}_mean"], row[f"{metric}_std"])
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
    if not report.skipped.empty:
        lines += ["## Skipped folds", "", "| cell line | fold | reason |", "|---|---|---|"]
        lines += [f"| {column_of(r.cell_line, r.train_cell_line)} | {r.fold} | {r.reason} |" for r in report.skipped.itertuples()]
        lines.append("")
    if report.plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in report.plots] + [""]
    return "\n".join(lines)


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
    return tables


def as_json(report: Report) -> dict[str, Any]:
    summary = report.summary.astype(object).where(report.summary.notna(), None)
    return {
        "run": str(report.run),
        "split": report.split,
        "summary": summary.to_dict(orient="records"),
        "skipped": report.skipped.to_dict(orient="records"),
        "plots": report.plots,
    }


# ---- writing ----------------------------------------------------------------------------------
def write_report(run: str | Path) -> Report:
    """Build the report of ``run`` and write report.md, report.tsv and the plots into it."""
    from epizoo.bench.plots import make_plots

    report = build_report(run)
    report.plots = make_plots(report)
    atomic_write_text(report.run / "report.tsv", report.summary.to_csv(sep="\t", index=False, float_format="%.6g"))
    atomic_write_text(report.run / "report.md", markdown(report))
    return report


def print_report(report: Report) -> None:
    from epizoo import console

    for table in rich_tables(report):
        console.stdout.print(table)
    if not report.skipped.empty:
        console.stdout.print(f"{len(report.skipped)} fold(s) skipped; see {report.run / 'report.md'}")
    console.stdout.print(f"written: {report.run / 'report.md'}, {report.run / 'report.tsv'}, {len(report.plots)} plot(s)")
