"""The report of a contact-map benchmark (``epizoo bench --models chromnet --split chromosome``).

What ChromNet's authors measure, on the held-out contigs' windows, for each model and for the
distance-decay baseline fitted on the same training maps (:mod:`epizoo.contact.metrics`):

* ``map_pearson``: Pearson's r of predicted and observed maps, per window, averaged;
* ``diagonal_pearson``: per diagonal distance, r along that diagonal (the decay taken out),
  averaged over windows and then over distances >= 1 bin; the full curves are in ``diagonal.tsv``
  and ``plots/diagonal-pearson.png``;
* ``insulation_pearson``: r of predicted and observed insulation scores, per window, averaged;
* ``mse`` on the model's scale (log(1 + contacts)).

A constant has no correlation, so the baseline's per-diagonal and insulation scores are empty (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from epizoo import console
from epizoo.bench.contact_tasks import MAP_METRICS
from epizoo.bench.plots import LEGEND_SIZE, _pyplot, model_colours, save_figure
from epizoo.files import write_text

DIAGONAL_PNG = "diagonal-pearson.png"
SHOWN = ("map_pearson", "diagonal_pearson", "insulation_pearson", "mse")


@dataclass
class MapsReport:
    run: Path
    split: str
    command: str
    metrics: pd.DataFrame  # one row per model (and baseline) x task
    diagonal: pd.DataFrame  # one row per model x task x diagonal distance
    plots: list[str] = field(default_factory=list)


def is_maps_run(run: str | Path) -> bool:
    path = Path(run) / "metrics.tsv"
    try:
        header = path.read_text().split("\n", 1)[0].split("\t")
    except OSError:
        return False
    return "map_pearson" in header


def build_maps_report(run: str | Path) -> MapsReport:
    import json

    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    metrics = pd.read_csv(run / "metrics.tsv", sep="\t")
    diagonal = pd.read_csv(run / "diagonal.tsv", sep="\t") if (run / "diagonal.tsv").is_file() else pd.DataFrame()
    return MapsReport(run, config.get("config", {}).get("split", ""), config.get("command", ""), metrics, diagonal)


def _column(row) -> str:
    return row.cell_line if row.train_cell_line == row.cell_line else f"{row.train_cell_line} -> {row.cell_line}"


def wide(report: MapsReport, metric: str) -> pd.DataFrame:
    """Rows: models and baselines; columns: test cell line(s) (``train -> test`` across cell lines)."""
    frame = report.metrics.assign(column=[_column(row) for row in report.metrics.itertuples()])
    table = frame.pivot_table(index="model", columns="column", values=metric, aggfunc="mean", sort=False, dropna=False)
    return table.reindex(list(dict.fromkeys(frame["model"])))


def _number(value: Any) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def maps_markdown(report: MapsReport) -> str:
    lines = [f"# Contact-map benchmark: {report.run.name}", "", f"Command: `{report.command}`", "",
             f"Split: {report.split}; test contigs: {', '.join(dict.fromkeys(report.metrics['fold'].astype(str)))}.", ""]
    for metric in SHOWN:
        table = wide(report, metric)
        lines += [f"## {metric}", "", "| model | " + " | ".join(table.columns) + " |", "|---" * (len(table.columns) + 1) + "|"]
        lines += [f"| {model} | " + " | ".join(_number(v) for v in row) + " |" for model, row in table.iterrows()]
        lines.append("")
    lines += ["Each model row is scored on the same held-out windows as the distance-decay baseline below it, fitted on the "
              "same training maps. A constant has no correlation, so the baseline has no per-diagonal or insulation score.", ""]
    lines += [f"![per-diagonal correlation](plots/{DIAGONAL_PNG})", ""] if report.plots else []
    return "\n".join(lines)


def diagonal_plot(report: MapsReport) -> str | None:
    if report.diagonal.empty:
        return None

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    colours = model_colours(list(dict.fromkeys(report.diagonal["model"])))  # a colour per model, a dash per cell line
    dashes = {line: ("-", "--", ":", "-.")[i % 4] for i, line in enumerate(dict.fromkeys(report.diagonal["cell_line"]))}
    for (model, cell_line), curve in report.diagonal.groupby(["model", "cell_line"], sort=False):
        if curve["pearson"].notna().any():
            axis.plot(curve["diagonal"], curve["pearson"], color=colours[model], linestyle=dashes[cell_line], label=f"{model}, {cell_line}")
    axis.axhline(0, color="grey", lw=0.5)
    axis.set_xlabel("diagonal distance (output bins)")
    axis.set_ylabel("Pearson r along the diagonal")
    axis.set_title("Held-out maps: correlation per distance")
    axis.legend(fontsize=LEGEND_SIZE, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)  # outside the axes
    return save_figure(figure, report.run / "plots" / DIAGONAL_PNG)


def write_maps_report(run: str | Path) -> MapsReport:
    report = build_maps_report(run)
    report.plots = [p for p in [diagonal_plot(report)] if p]
    write_text(report.run / "report.tsv", report.metrics.to_csv(sep="\t", index=False, float_format="%.6g"))
    write_text(report.run / "report.md", maps_markdown(report))
    return report


def maps_json(report: MapsReport) -> dict[str, Any]:
    frame = report.metrics
    return {"run": str(report.run), "split": report.split, "kind": "contact maps",
            "summary": frame.astype(object).where(frame.notna(), None).to_dict(orient="records"), "plots": report.plots}


def print_maps_report(report: MapsReport) -> None:
    from rich.table import Table

    for metric in SHOWN:
        table = wide(report, metric)
        rich = Table(title=f"{report.run.name}: {metric} on held-out maps")
        rich.add_column("model")
        for column in table.columns:
            rich.add_column(str(column), justify="right")
        for model, row in table.iterrows():
            rich.add_row(str(model), *(_number(v) for v in row))
        console.stdout.print(rich)
    console.stdout.print(f"written: {report.run / 'report.md'}, {report.run / 'report.tsv'}, {len(report.plots)} plot(s)")


__all__ = ["MAP_METRICS", "MapsReport", "build_maps_report", "is_maps_run", "maps_json", "print_maps_report", "write_maps_report"]
