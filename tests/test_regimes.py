"""Training regimes of ``epizoo bench``: specific, gen (one model per fold on every cell line) and
best (gen's weights fine-tuned per cell line); their plan, leakage check, weights, resume and report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import epizoo
from epizoo.bench.config import BenchConfig
from epizoo.bench.plan import plan
from epizoo.bench.regimes import parse_regimes, regime_tasks
from epizoo.bench.runner import bench
from epizoo.cli import cli
from epizoo.errors import EpizooError, LeakageError
from epizoo.plugins import Registered, get_model
from epizoo.splits import chromosome, loco
from epizoo.training import trainer
from epizoo.checkpoint import load_checkpoint
from epizoo.training.trainer import Sides, TrainOptions, train_fold

FAST = ["--tiny", "--epochs", "1", "--batch-size", "16", "--max-pairs", "16", "--no-progress"]
LINES = ["SYN-A", "SYN-B"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("regimes") / "two-lines.zarr"
    epizoo.simulate_store(path, n_pairs=120, n_contigs=3, cell_lines=2, ratio=2, seed=3)
    return str(path)


@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    """One run of every regime on fold chr1, with the starting weights each task was given."""
    import epizoo.bench.kinds as task_module  # where a pair task calls train_fold

    out = tmp_path_factory.mktemp("runs") / "regimes"
    given, original = [], task_module.train_fold
    def recording(spec, store_, sides, options, on_epoch=None, on_batch=None, initial_state=None):
        given.append((spec.name, initial_state))
        return original(spec, store_, sides, options, on_epoch, on_batch, initial_state=initial_state)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_module, "train_fold", recording)
        result = run_cli("bench", store, "--models", "epizoo-cnn,distance", "--regime", "specific,gen,best", "--folds", "chr1",
                         "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    return out, given, result


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def config_of(store, out, regime, models=("distance",), **extra) -> BenchConfig:
    return BenchConfig(store=store, out=str(out), models=list(models), regime=parse_regimes(regime), progress=False, **extra)


# ---- the trainer's starting weights -------------------------------------------------------------
class _Stop(Exception):
    pass


@pytest.mark.slow
def test_training_can_start_from_given_weights(store, run, monkeypatch):
    """The weights the optimiser gets, before any step: the given ones, not a fresh initialisation."""
    seen = []

    def spy(recipe, parameters, device=None):
        seen.append([p.detach().clone() for p in parameters])
        raise _Stop  # nothing to train: the start is what is checked

    monkeypatch.setattr(trainer, "make_optimizer", spy)
    spec = get_model("epizoo-cnn")
    ds = epizoo.open_store(store)
    fold = loco(ds, folds=["chr1"], cell_lines=["SYN-A"])[0]
    sides = Sides(*(np.flatnonzero(m) for m in (fold.train, fold.valid, fold.test)))
    options = TrainOptions(tiny=True, epochs=1, batch_size=16, max_pairs=16, device="cpu")
    description, gen_state = load_checkpoint(run[0] / "checkpoints" / "epizoo-cnn" / "SYN-A+SYN-B@gen" / "chr1")
    for initial_state in (None, gen_state):
        with pytest.raises(_Stop):
            train_fold(spec, store, sides, options, initial_state=initial_state)
    random_init, given = seen
    names = [name for name, _ in spec.factory(**description["hparams"]).named_parameters()]
    assert len(given) == len(names) > 0
    assert all(torch.equal(tensor, gen_state[name]) for tensor, name in zip(given, names))
    assert not all(torch.equal(a, b) for a, b in zip(given, random_init))
    with pytest.raises(EpizooError, match="scikit-learn"):
        train_fold(get_model("distance"), store, sides, options, initial_state=gen_state)


# ---- planning -----------------------------------------------------------------------------------
def test_gen_trains_on_the_union_of_training_sides_and_never_on_a_test_side(store, tmp_path):
    ds = epizoo.open_store(store)
    tasks, _, leakage = plan(ds, config_of(store, tmp_path, "specific,gen,best"), warn=lambda _: None)
    specific = [t for t in tasks if t.regime == "specific"]
    gen = [t for t in tasks if t.regime == "gen"]
    best = [t for t in tasks if t.regime == "best"]
    assert [t.regime for t in tasks] == ["specific"] * 6 + ["gen"] * 3 + ["best"] * 6  # gen before the best tasks
    assert {t.fold for t in gen} == {"chr1", "chr2", "chrX"} and {t.cell_line for t in gen} == {"SYN-A+SYN-B"}
    for task in gen:
        same_fold = [t for t in specific if t.fold == task.fold]
        assert set(task.train) == set().union(*(set(t.train) for t in same_fold))
        assert set(task.valid) == set().union(*(set(t.valid) for t in same_fold))
        tests = set().union(*(set(t.test) for t in same_fold))
        assert set(task.test) == tests and not tests & (set(task.train) | set(task.valid))
        assert {line: set(pairs) for line, pairs in task.tests.items()} == {t.cell_line: set(t.test) for t in same_fold}
        ran = [entry for entry in leakage if entry.get("regime") == "gen" and entry["fold"] == task.fold]
        assert sorted(entry["cell_line"] for entry in ran) == LINES and not any(entry["leaks"] for entry in ran)
    for task in best:
        twin = next(t for t in specific if (t.cell_line, t.fold) == (task.cell_line, task.fold))
        assert all(np.array_equal(getattr(task, side), getattr(twin, side)) for side in ("train", "valid", "test"))
        assert task.after == next(g.key for g in gen if g.fold == task.fold) == "distance/SYN-A+SYN-B@gen/" + task.fold


def test_regime_names_and_splits_that_cannot_share_folds(store, tmp_path):
    assert parse_regimes("best") == ["gen", "best"] and parse_regimes("BEST,specific") == ["specific", "gen", "best"]
    assert BenchConfig(store="s", out="o", models=["m"]).defining().get("regime") is None  # specific runs resume as before
    for bad in ("fast", "", "gen,,nope"):
        with pytest.raises(EpizooError, match="choose one or more of specific, gen, best"):
            parse_regimes(bad)
    result = run_cli("bench", store, "--models", "distance", "--split", "cross-cell-line", "--regime", "gen", "--out", str(tmp_path / "x"))
    assert result.exit_code == 1 and "needs folds shared by the cell lines" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def mismatched_split(ds, **options):
    """SYN-A holds out chr1 while SYN-B's fold of the same name holds out chr2 and trains on chr1."""
    (line,) = options["cell_lines"]
    if line == "SYN-A":
        return loco(ds, folds=["chr1"], cell_lines=[line])
    fold = chromosome(ds, test="chr2", cell_lines=[line])[0]
    fold.name = "chr1"
    return [fold]


def test_a_gen_fold_that_would_leak_is_refused_before_training(store, tmp_path, monkeypatch):
    monkeypatch.setattr("epizoo.bench.plan.get_split", lambda name: Registered(name, mismatched_split))
    trained = []
    monkeypatch.setattr("epizoo.bench.kinds.train_fold", lambda *a, **k: trained.append(a))
    ds = epizoo.open_store(store)
    specific, _, _ = plan(ds, config_of(store, tmp_path, "specific"))  # each cell line's own fold is clean
    assert len(specific) == 2
    with pytest.raises(LeakageError, match=r"chr1 \(gen on SYN-A\+SYN-B, test SYN-A\) leaks"):
        bench(config_of(store, tmp_path / "run", "gen"))
    assert not (tmp_path / "run").exists() and not trained  # refused before anything was written or trained
    # a split that leaks by design records the gen fold's leak and warns instead
    per_line = {line: [(fold, True) for fold in mismatched_split(ds, cell_lines=[line])] for line in LINES}
    warnings = []
    _, reports = regime_tasks(ds, config_of(store, tmp_path, "gen", split="random"), per_line, warnings.append)
    assert [r["leaks"] for r in reports] == [True, True] and len(warnings) == 2 and "shared between training and test" in warnings[0]


# ---- a run of every regime ----------------------------------------------------------------------
def test_the_pair_cap_holds_per_cell_line_under_gen(run):
    """--max-pairs 16 caps each cell line: specific trains on 16 pairs, gen on 16 from each of its two."""
    out, _, _ = run
    trained = {}
    for path in (out / "tasks" / "epizoo-cnn").rglob("result.json"):
        result = json.loads(path.read_text())
        trained[result["regime"]] = result["training"]["n_train_pairs"]
    assert trained == {"specific": 16, "gen": 32, "best": 16}


def test_best_starts_from_the_gen_weights_of_its_fold(run):
    out, given, _ = run
    gen_description, gen_state = load_checkpoint(out / "checkpoints" / "epizoo-cnn" / "SYN-A+SYN-B@gen" / "chr1")
    assert gen_description["fold"]["regime"] == "gen" and gen_description["fold"]["cell_lines"] == LINES
    starts = [state for name, state in given if name == "epizoo-cnn" and state is not None]
    assert len(starts) == 2  # the two best tasks; specific and gen start from a fresh initialisation
    for state in starts:
        assert state.keys() == gen_state.keys() and all(torch.equal(state[k], gen_state[k]) for k in gen_state)
    _, tuned = load_checkpoint(out / "checkpoints" / "epizoo-cnn" / "SYN-A@best" / "chr1")
    assert any(not torch.equal(tuned[k], gen_state[k]) for k in gen_state)  # and fine-tuned them
    result = json.loads((out / "tasks" / "epizoo-cnn" / "SYN-A@best" / "chr1" / "result.json").read_text())
    assert result["training"]["initial_state"] and result["training"]["starts_from"] == "epizoo-cnn/SYN-A+SYN-B@gen/chr1"
    assert all(state is None for name, state in given if name == "distance")  # scikit-learn: refitted


def test_metrics_predictions_and_leakage_record_the_regime(run):
    out, _, _ = run
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(metrics.columns[:5]) == ["model", "cell_line", "train_cell_line", "fold", "regime"]
    counts = metrics.groupby(["model", "regime"]).size().to_dict()
    assert counts == {(m, r): 2 for m in ("distance", "epizoo-cnn") for r in ("best", "gen", "specific")}
    gen = metrics[metrics["regime"] == "gen"]
    assert set(gen["train_cell_line"]) == {"SYN-A+SYN-B"} and sorted(gen["cell_line"]) == sorted(LINES * 2)
    best = metrics[metrics["regime"] == "best"].set_index("model")["fine_tuned"].astype(str).str.lower()
    assert set(best["epizoo-cnn"]) == {"true"} and set(best["distance"]) == {"false"}
    for line in LINES:
        for group in (line, f"{line}@gen", f"{line}@best"):
            table = pd.read_csv(out / "predictions" / "epizoo-cnn" / group / "chr1.tsv", sep="\t", comment="#")
            assert set(table["cell_line"]) == {line} and set(table["contig"]) == {"chr1"}
    header = (out / "predictions" / "epizoo-cnn" / "SYN-B@gen" / "chr1.tsv").read_text().splitlines()[2]
    assert header.endswith("cell line SYN-B (trained on SYN-A+SYN-B); fold chr1; regime gen")
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["regime"] == config["defining"]["regime"] == ["specific", "gen", "best"]
    leakage = json.loads((out / "leakage.json").read_text())
    assert [(e["cell_line"], e["leaks"]) for e in leakage if e.get("regime") == "gen"] == [("SYN-A", False), ("SYN-B", False)]


def test_report_shows_the_regimes_side_by_side(run):
    out, _, result = run
    markdown = (out / "report.md").read_text()
    header = "| model | SYN-A (specific) | SYN-A (gen) | SYN-A (best) | SYN-B (specific) | SYN-B (gen) | SYN-B (best) |"
    assert markdown.count(header) == 2  # AUROC and AUPR
    assert "## Regimes" in markdown and "distance: scikit-learn, no fine-tuning" in markdown
    assert "(gen)" in result.output and "distance: scikit-learn" in " ".join(result.output.split())
    table = pd.read_csv(out / "report.tsv", sep="\t")
    assert table.groupby("regime").size().to_dict() == {"best": 4, "gen": 4, "specific": 4}
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    row = table[(table["model"] == "epizoo-cnn") & (table["column"] == "SYN-B (gen)")].iloc[0]
    expected = metrics[(metrics["model"] == "epizoo-cnn") & (metrics["cell_line"] == "SYN-B") & (metrics["regime"] == "gen")]
    assert row["auroc_mean"] == pytest.approx(expected["auroc"].iloc[0], abs=1e-5)
    from epizoo.bench.report import as_json, build_report

    payload = json.loads(json.dumps(as_json(build_report(out))))
    assert payload["regimes"] == ["specific", "gen", "best"] and len(payload["summary"]) == 12
    assert (out / "plots" / "curves_SYN-A@gen.png").is_file()


# ---- resume and dask -----------------------------------------------------------------------------
@pytest.mark.slow
def test_an_interrupted_run_resumes_without_redoing_finished_tasks(store, run, tmp_path, monkeypatch):
    import shutil

    import epizoo.bench.kinds as task_module  # where a pair task calls train_fold

    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    unfinished = out / "tasks" / "epizoo-cnn" / "SYN-B@best" / "chr1"
    (unfinished / "done").unlink()  # where a kill during that task leaves the run
    kept = {path: path.read_text() for path in out.glob("tasks/*/*/*/result.json") if path.parent != unfinished}
    trained, original = [], task_module.train_fold
    def recording(*a, initial_state=None, **k):
        trained.append(initial_state)
        return original(*a, initial_state=initial_state, **k)

    monkeypatch.setattr(task_module, "train_fold", recording)
    args = ["bench", store, "--models", "epizoo-cnn,distance", "--regime", "specific,gen,best", "--folds", "chr1", "--out", str(out), *FAST]
    resumed = run_cli(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(trained) == 1 and trained[0] is not None  # only the best task, from the kept gen weights
    assert all(path.read_text() == text for path, text in kept.items()) and (unfinished / "done").is_file()
    assert len(pd.read_csv(out / "metrics.tsv", sep="\t")) == 12


def test_a_best_task_refuses_to_start_before_its_gen_task(store, tmp_path):
    from epizoo.bench.task import run_task

    config = config_of(store, tmp_path / "run", "best", models=("epizoo-cnn",), tiny=True)
    tasks, _, _ = plan(epizoo.open_store(store), config, warn=lambda _: None)
    best = next(t for t in tasks if t.regime == "best")
    with pytest.raises(EpizooError, match="starts from the gen model epizoo-cnn/SYN-A\\+SYN-B@gen/chr1, which has not finished"):
        run_task(config, best)


def test_on_dask_a_best_task_waits_for_its_gen_task(store, tmp_path, monkeypatch):
    """Each best task is submitted with its gen task's future as an argument, so dask runs it after."""
    import distributed

    from epizoo.bench import runner
    from epizoo.bench.progress import QuietProgress
    from epizoo.bench.rundir import RunDirectory

    class Client:
        submitted: dict = {}

        def scheduler_info(self):
            return {"workers": {"a": {}, "b": {}}}

        def submit(self, function, config, task, *after, key, pure):
            future = type("Future", (), {"result": lambda self: None})()
            self.submitted[task.key] = (future, after)
            return future

    config = config_of(store, tmp_path / "run", "gen,best", models=("epizoo-cnn", "distance"))
    tasks, _, _ = plan(epizoo.open_store(store), config, warn=lambda _: None)
    (tmp_path / "run").mkdir()
    monkeypatch.setattr(distributed, "as_completed", lambda futures: list(futures))
    client = Client()
    runner._run_dask(config, tasks, RunDirectory(tmp_path / "run"), QuietProgress(), type("Cluster", (), {"client": client})())
    assert len(client.submitted) == len(tasks) == 2 * 3 + 2 * 6
    for task in tasks:
        future, after = client.submitted[task.key]
        expected = (client.submitted[task.after][0],) if task.regime == "best" else ()
        assert after == expected
