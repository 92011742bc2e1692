"""``epizoo report``: tables, report.md/tsv, plots, JSON, and runs that are not runs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.bench import plots, results
from epizoo.bench.report import build_report, summarise
from epizoo.cli import cli

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "two-lines.zarr"
    epizoo.simulate_store(path, n_pairs=160, n_contigs=3, cell_lines=2, ratio=2, seed=3)
    return str(path)


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def loco_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "loco"
    result = run_cli("bench", "--store", store, "--models", "distance,kmer", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def test_report_of_a_loco_run(loco_run):
    result = run_cli("report", str(loco_run))
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output and "SYN-A" in result.output and "pos. rate" in result.output
    markdown = (loco_run / "report.md").read_text()
    assert "| model | SYN-A | SYN-B |" in markdown and "±" in markdown
    table = pd.read_csv(loco_run / "report.tsv", sep="\t")
    assert set(table["model"]) == {"distance", "kmer"} and set(table["column"]) == {"SYN-A", "SYN-B"}
    metrics = pd.read_csv(loco_run / "metrics.tsv", sep="\t")
    mean = metrics[(metrics["model"] == "kmer") & (metrics["cell_line"] == "SYN-A")]["auroc"].mean()
    row = table[(table["model"] == "kmer") & (table["column"] == "SYN-A")].iloc[0]
    assert row["auroc_mean"] == pytest.approx(mean, abs=1e-5) and row["n_folds"] == 3
    plots = sorted(p.name for p in (loco_run / "plots").glob("*.png"))
    assert plots == [
        "auroc_by_fold_SYN-A.png", "auroc_by_fold_SYN-B.png", "curves_SYN-A.png", "curves_SYN-B.png", "learning_curves.png",
    ]
    assert all((loco_run / "plots" / name).read_bytes().startswith(PNG) for name in plots)
    # scikit-learn models are fitted once: one epoch, no training loss, not judged for memorisation
    assert "## Learning curves" in markdown and "![learning curves](plots/learning_curves.png)" in markdown
    assert "| kmer | 6 | 1 | n/a (fitted once) |" in markdown and "n/a (one epoch)" in markdown


def test_report_json(loco_run):
    result = run_cli("report", str(loco_run), "--json")
    payload = json.loads(result.output)
    assert payload["split"] == "loco" and len(payload["summary"]) == 4
    assert {"auroc_mean", "auroc_std", "aupr_mean", "positive_rate_mean", "n_folds"} <= set(payload["summary"][0])


def test_cross_cell_line_run_has_a_train_by_test_matrix(store, tmp_path):
    out = tmp_path / "cross"
    result = run_cli("bench", "--store", store, "--models", "distance", "--split", "cross-cell-line", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "warning: fold SYN-B leaks" in result.stderr  # shared elements across cell lines: recorded, not refused
    report = build_report(out)
    assert set(report.columns) == {"SYN-A -> SYN-B", "SYN-B -> SYN-A"}
    assert (out / "plots" / "cross_cell_line_distance.png").read_bytes().startswith(PNG)
    assert (out / "predictions" / "distance" / "SYN-A-to-SYN-B").is_dir()


def test_standard_deviation_is_over_folds():
    metrics = pd.DataFrame({
        "model": ["m"] * 3, "cell_line": ["A"] * 3, "train_cell_line": ["A"] * 3, "fold": ["1", "2", "3"],
        "auroc": [0.5, 0.6, 0.7], "aupr": [0.1, 0.2, 0.3], "positive_rate": [0.1] * 3, "aupr_ratio": [1, 2, 3],
        "f1": [0.0] * 3, "mcc": [0.0] * 3,
    })
    row = summarise(metrics).iloc[0]
    assert row["auroc_mean"] == pytest.approx(0.6) and row["auroc_std"] == pytest.approx(0.1)


def test_not_a_run_is_one_line(tmp_path):
    missing = run_cli("report", str(tmp_path / "absent"))
    assert missing.exit_code == 1 and "does not exist" in missing.output and "Traceback" not in missing.output
    (tmp_path / "empty").mkdir()
    empty = run_cli("report", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "no results yet" in empty.output


# ---- learning curves, on a run directory written by hand -------------------------------------
NAN = math.nan
# model -> fold -> (training loss per epoch, validation AUROC per epoch)
HISTORIES = {
    "fits": {  # training loss falls, validation AUROC flat at chance: memorisation in both folds
        "chr1": ([0.70, 0.40, 0.20], [0.50, 0.51, 0.505]),
        "chr2": ([0.69, 0.45, 0.30], [0.52, 0.515, 0.53]),
    },
    "learns": {  # validation AUROC rises; chr2 stopped early after two epochs
        "chr1": ([0.70, 0.50, 0.30], [0.55, 0.70, 0.80]),
        "chr2": ([0.60, 0.50], [0.60, 0.75]),
    },
    "sk": {  # scikit-learn: one fit, no training loss
        "chr1": ([NAN], [0.60]),
        "chr2": ([NAN], [0.70]),
    },
}


def write_run(root: Path, histories=HISTORIES, with_history: bool = True) -> Path:
    """A LOCO run directory of cell line A with the files `epizoo bench` writes, histories given."""
    rng = np.random.default_rng(0)
    rows = []
    for model, folds in histories.items():
        for fold, (loss, auroc) in folds.items():
            labels = np.array([1, 0, 0] * 10)
            scores = np.clip(labels * 0.2 + rng.uniform(0, 0.8, labels.size), 0, 1)
            predictions = root / "predictions" / model / "A" / f"{fold}.tsv"
            predictions.parent.mkdir(parents=True, exist_ok=True)
            predictions.write_text("# epizoo test\n" + pd.DataFrame({"label": labels, "score": scores}).to_csv(sep="\t", index=False))
            task = root / "tasks" / model / "A" / fold
            task.mkdir(parents=True)
            record = {"model": model, "cell_line": "A", "train_cell_line": "A", "fold": fold, "metrics": {}, "training": {}}
            if with_history:
                record["history"] = [
                    {"epoch": e + 1, "loss": l, "valid_auroc": a, "valid_loss": 0.6, "seconds": 0.1}
                    for e, (l, a) in enumerate(zip(loss, auroc))
                ]
            (task / "result.json").write_text(json.dumps(record))  # NaN written as NaN, as the runner does
            (task / "done").touch()
            rows.append({
                "model": model, "cell_line": "A", "train_cell_line": "A", "fold": fold, "auroc": 0.6 + 0.1 * (fold == "chr2"),
                "aupr": 0.4, "positive_rate": 1 / 3, "aupr_ratio": 1.2, "f1": 0.5, "mcc": 0.1,
            })
    pd.DataFrame(rows).to_csv(root / "metrics.tsv", sep="\t", index=False)
    (root / "config.json").write_text(json.dumps({"config": {"split": "loco"}}))
    return root


def test_learning_curves_are_averaged_over_folds(tmp_path):
    run = write_run(tmp_path / "run")
    unfinished = run / "tasks" / "learns" / "A" / "chr3"  # a task without `done` is not counted
    unfinished.mkdir()
    (unfinished / "result.json").write_text(json.dumps({
        "model": "learns", "cell_line": "A", "train_cell_line": "A", "fold": "chr3",
        "history": [{"epoch": 1, "loss": 9.0, "valid_auroc": 0.0}],
    }))
    report = build_report(run)
    assert len(report.histories) == 3 + 3 + 3 + 2 + 1 + 1
    curves = report.curves.set_index(["model", "epoch"])
    learns = curves.loc["learns"]
    assert learns.loc[1, "n_folds"] == 2 and learns.loc[3, "n_folds"] == 1
    assert learns.loc[1, "loss_mean"] == pytest.approx(0.65) and learns.loc[1, "valid_auroc_mean"] == pytest.approx(0.575)
    assert learns.loc[2, "valid_auroc_mean"] == pytest.approx(0.725) and learns.loc[2, "valid_auroc_std"] == pytest.approx(np.std([0.70, 0.75], ddof=1))
    assert learns.loc[3, "loss_mean"] == pytest.approx(0.30) and math.isnan(learns.loc[3, "loss_std"])
    assert curves.loc[("fits", 3), "loss_mean"] == pytest.approx(0.25)
    assert math.isnan(curves.loc[("sk", 1), "loss_mean"]) and curves.loc[("sk", 1), "valid_auroc_mean"] == pytest.approx(0.65)

    summary = report.learning.set_index("model")
    assert summary.loc["learns", "epochs_min"] == 2 and summary.loc["learns", "epochs_max"] == 3
    assert summary.loc["learns", "final_loss_mean"] == pytest.approx(0.40)  # last epochs 0.30 and 0.50
    assert summary.loc["learns", "best_valid_auroc_mean"] == pytest.approx(0.775)  # bests 0.80 and 0.75
    assert summary.loc["fits", "memorisation"] and summary.loc["fits", "memorising_folds"] == 2
    assert not summary.loc["learns", "memorisation"] and summary.loc["learns", "judged_folds"] == 2
    assert summary.loc["sk", "judged_folds"] == 0 and math.isnan(summary.loc["sk", "final_loss_mean"])

    payload = json.loads(run_cli("report", str(run), "--json").output)
    assert {row["model"] for row in payload["learning"]} == {"fits", "learns", "sk"}
    assert len(payload["learning_curves"]) == 3 + 3 + 1


def test_report_shows_learning_curves_and_the_memorisation_flag(tmp_path):
    run = write_run(tmp_path / "run")
    result = run_cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert "memorisation flagged" in result.output and "fits (2 of 2 folds)" in result.output
    png = run / "plots" / "learning_curves.png"
    assert png.read_bytes().startswith(PNG)
    markdown = (run / "report.md").read_text()
    assert "![learning curves](plots/learning_curves.png)" in markdown
    assert "| model | folds | epochs | final train loss | best valid AUROC | memorisation |" in markdown
    assert "| fits | 2 | 3 | 0.2500 ± 0.0707 | 0.520 ± 0.014 | **yes**: 2 of 2 folds |" in markdown
    assert "| learns | 2 | 2–3 | 0.4000 ± 0.1414 | 0.775 ± 0.035 | no (0 of 2 folds) |" in markdown
    assert "| sk | 2 | 1 | n/a (fitted once) | 0.650 ± 0.071 | n/a (one epoch) |" in markdown
    assert "0.7× its first-epoch value" in markdown  # the rule is stated in the report
    figure = plots.learning_curves_figure(build_report(run))
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert len(visible) == 2 * 3 and "memorisation: 2 of 2 folds" in visible[1].get_title()
    plots._pyplot().close(figure)


@pytest.mark.parametrize(
    ("loss", "auroc", "expected"),
    [
        ([0.7, 0.3], [0.50, 0.51], True),  # loss falls to 0.43x, AUROC flat at chance
        ([0.7, 0.5], [0.50, 0.51], False),  # loss falls to 0.71x only: not substantial
        ([0.7, 0.3], [0.50, 0.53], False),  # validation AUROC improves by 0.03
        ([0.7, 0.3], [0.80, 0.80], False),  # flat but well above chance: learnt in the first epoch
        ([0.7, 0.3], [0.59, 0.595], True),  # flat just below 0.6
        ([0.7], [0.50], None),  # one epoch: not judged
        ([NAN, NAN], [0.5, 0.5], None),  # no training loss: not judged
        ([0.7, 0.3], [NAN, NAN], None),  # no validation side: not judged
    ],
)
def test_memorisation_rule(loss, auroc, expected):
    flag = results.fold_learning(write_histories({"m": {"f": (loss, auroc)}}))["memorising"].iloc[0]
    assert flag is None if expected is None else flag == expected


def write_histories(histories) -> pd.DataFrame:
    rows = [
        {"model": model, "column": "A", "cell_line": "A", "train_cell_line": "A", "fold": fold, "epoch": e + 1, "loss": l, "valid_auroc": a, "valid_loss": NAN}
        for model, folds in histories.items() for fold, (loss, auroc) in folds.items() for e, (l, a) in enumerate(zip(loss, auroc))
    ]
    return pd.DataFrame(rows, columns=results.HISTORY_COLUMNS)


@pytest.mark.parametrize("old", ["no tasks folder", "no history key"])
def test_old_run_without_histories_still_reports(tmp_path, old):
    run = write_run(tmp_path / "run", with_history=old != "no history key")
    if old == "no tasks folder":
        shutil.rmtree(run / "tasks")
    result = run_cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert not (run / "plots" / "learning_curves.png").exists()
    assert (run / "plots" / "curves_A.png").read_bytes().startswith(PNG)
    markdown = (run / "report.md").read_text()
    assert "## Learning curves" in markdown and "No epoch histories in this run" in markdown
    assert "memorisation" not in result.output
    assert json.loads(run_cli("report", str(run), "--json").output)["learning"] == []


def test_auroc_heatmap_is_diverging_and_centred_at_chance(tmp_path):
    from matplotlib.colors import TwoSlopeNorm

    report = build_report(write_run(tmp_path / "run"))
    figure = plots.fold_heatmap_figure(report, "A")
    image = figure.axes[0].images[0]
    assert isinstance(image.norm, TwoSlopeNorm) and image.norm.vcenter == 0.5
    assert image.norm(0.5) == pytest.approx(0.5) and image.norm(0.0) == pytest.approx(0.0) and image.norm(1.0) == pytest.approx(1.0)
    assert image.cmap.name == "RdBu"
    assert image.cmap(image.norm(0.5))[:3] == pytest.approx((0.97, 0.97, 0.97), abs=0.03)  # chance is the neutral colour
    plots._pyplot().close(figure)


def test_roc_and_pr_curves_are_per_fold_with_a_mean_and_a_baseline(tmp_path):
    report = build_report(write_run(tmp_path / "run"))
    figure = plots.curves_figure(report, "A", "A")
    roc_axis, pr_axis = figure.axes
    # 3 models x (2 folds + the mean), plus the chance diagonal / the positive-rate line
    assert len(roc_axis.lines) == 3 * 3 + 1 and len(pr_axis.lines) == 3 * 3 + 1
    baseline = [line for line in pr_axis.lines if "positive rate" in line.get_label()]
    assert len(baseline) == 1 and np.allclose(baseline[0].get_ydata(), 1 / 3)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert any(text.startswith("learns\nAUROC 0.650 ± 0.071") for text in legend)  # the table's mean ± SD over folds, not pooled
    assert "not pooled" in figure._suptitle.get_text()
    plots._pyplot().close(figure)


def test_curves_legend_sits_outside_the_axes_and_their_labels(tmp_path):
    report = build_report(write_run(tmp_path / "run"))
    figure = plots.curves_figure(report, "A", "A")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend = figure.legends[0].get_window_extent(renderer)
    assert all(not legend.overlaps(axis.get_tightbbox(renderer)) for axis in figure.axes)  # tick and axis labels included
    assert all(text.get_fontsize() >= 8 for text in figure.legends[0].get_texts())
    plots._pyplot().close(figure)


def test_each_model_keeps_one_distinct_colour_in_every_plot(tmp_path):
    from matplotlib.colors import to_hex

    many = plots.model_colours([f"model-{i}" for i in range(40)])
    assert len(set(many.values())) == 40  # no colour repeats after ten models
    report = build_report(write_run(tmp_path / "run"))
    colours = plots.model_colours(report.models)
    figure = plots.curves_figure(report, "A", "A")
    for handle, text in zip(figure.legends[0].legend_handles, figure.legends[0].get_texts()):
        model = text.get_text().split("\n")[0]
        if model in colours:
            assert to_hex(handle.get_color()) == colours[model]
    plots._pyplot().close(figure)


def test_plots_are_written_as_svg_and_png_at_print_resolution(tmp_path):
    from PIL import Image

    report = build_report(write_run(tmp_path / "run"))
    written = plots.make_plots(report)
    assert written and all(name.endswith(".png") for name in written)
    for name in written:
        png = report.run / name
        assert png.with_suffix(".svg").read_text().lstrip().startswith(("<?xml", "<svg"))
        assert Image.open(png).info["dpi"][0] >= 199.5


def test_mean_curves_average_folds_on_a_grid():
    perfect, chance = (np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])), (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    mean = plots.mean_roc([perfect, chance])
    assert mean[0] == 0.0 and mean[-1] == 1.0 and mean[np.searchsorted(plots.GRID, 0.5)] == pytest.approx(0.75)
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])
    stepped = plots.mean_pr([(recall, precision)])
    assert stepped[np.searchsorted(plots.GRID, 0.5)] == pytest.approx(1.0)  # the top score alone reaches recall 0.5
    assert stepped[-1] == pytest.approx(2 / 3)  # recall 1 first reached at the third score


def test_plots_and_report_have_no_import_cycle():
    import ast

    for module in (plots, results):  # neither imports the report, not even inside a function
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert "epizoo.bench.report" not in imported, module.__name__
    code = (
        "import sys, epizoo.bench.plots; assert 'epizoo.bench.report' not in sys.modules; "
        "import epizoo.bench.report as r; assert r.make_plots is epizoo.bench.plots.make_plots"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
