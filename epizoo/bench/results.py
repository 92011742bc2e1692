"""Reading a run directory: metrics, prediction tables, per-epoch histories, learning curves.

Shared by :mod:`epizoo.bench.report` (tables and text) and :mod:`epizoo.bench.plots` (PNGs), so
neither imports the other's helpers: ``report`` imports ``plots`` and both import this module.

Learning curves come from the ``history`` list of each finished task's ``tasks/.../result.json``
(one record per epoch: epoch, loss, valid_auroc, valid_loss, seconds). A run directory written
before histories were recorded, or a task whose result cannot be read, simply has none.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from epizoo.bench.config import CONTROL_LABELS, REGIMES, group_name, safe_name
from epizoo.bench.stats import bootstrap_ci
from epizoo.errors import InputFileError
from epizoo.metrics import precision_at_70_recall

# The memorisation rule, per fold: the training loss falls substantially while the validation
# AUROC neither improves nor leaves the neighbourhood of chance.
#   last loss < MEMORISATION_LOSS_RATIO x first loss, and
#   best valid AUROC - first valid AUROC < MEMORISATION_AUROC_GAIN, and
#   best valid AUROC < MEMORISATION_AUROC_MAX.
# It needs at least two epochs with a finite loss and validation AUROC; otherwise it is undecided.
MEMORISATION_LOSS_RATIO = 0.7
MEMORISATION_AUROC_GAIN = 0.02
MEMORISATION_AUROC_MAX = 0.6
MEMORISATION_RULE = (
    f"a fold is flagged when its training loss falls below {MEMORISATION_LOSS_RATIO}× its first-epoch value "
    f"while its best validation AUROC is less than {MEMORISATION_AUROC_GAIN} above the first epoch's "
    f"and below {MEMORISATION_AUROC_MAX} (training fits, validation stays flat near chance); "
    "folds with one epoch (scikit-learn fits) or without a validation AUROC are not judged"
)

HISTORY_COLUMNS = ["model", "column", "cell_line", "train_cell_line", "fold", "epoch", "loss", "valid_auroc", "valid_loss"]


# ---- names ------------------------------------------------------------------------------------
def column_of(cell_line: str, train_cell_line: str, regime: str = "specific", labelled: bool = False) -> str:
    """The report column of a cell line: itself, or ``train -> test`` for cross-cell-line runs;
    ``K562 (gen)`` for another regime (``labelled``: ``K562 (specific)`` too, in a run of several)."""
    if regime != "specific":
        return f"{cell_line} ({CONTROL_LABELS.get(regime, regime)})"
    column = str(cell_line) if str(train_cell_line) == str(cell_line) else f"{train_cell_line} -> {cell_line}"
    return f"{column} (specific)" if labelled else column


def group_of(cell_line: str, train_cell_line: str, regime: str = "specific") -> str:
    """The folder name of a cell line in ``predictions/MODEL/`` and ``tasks/MODEL/``."""
    return group_name(cell_line, train_cell_line, regime)


def regimes_of(metrics: pd.DataFrame) -> list[str]:
    """Each row's regime: ``specific`` for runs (and rows) without one."""
    if "regime" not in metrics:
        return ["specific"] * len(metrics)
    return [str(r) if isinstance(r, str) and r else "specific" for r in metrics["regime"]]


def metric_columns(metrics: pd.DataFrame) -> list[str]:
    """The report column of each metrics row; every column names its regime when the run has any
    other than ``specific``."""
    regimes = regimes_of(metrics)
    labelled = set(regimes) != {"specific"}
    return [column_of(c, t, r, labelled) for c, t, r in zip(metrics["cell_line"], metrics["train_cell_line"], regimes)]


def regime_order(metrics: pd.DataFrame) -> list[tuple[int, int]]:
    """A sort key per row: cell lines in order of appearance, then specific, gen, best (the papers' column groups)."""
    lines = {line: i for i, line in enumerate(dict.fromkeys(metrics["cell_line"]))}
    return [(lines[c], REGIMES.index(r) if r in REGIMES else len(REGIMES)) for c, r in zip(metrics["cell_line"], regimes_of(metrics))]


def mean_sd(mean: float | None, sd: float | None, digits: int = 3) -> str:
    """``0.712 ± 0.031``; the mean alone when there is no SD; ``n/a`` when there is no mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


# ---- files ------------------------------------------------------------------------------------
def read_predictions(path: Path) -> pd.DataFrame:
    """A prediction table, skipping its ``#`` provenance header."""
    with open(path) as handle:
        header_lines = 0
        for line in handle:
            if not line.startswith("#"):
                break
            header_lines += 1
    return pd.read_csv(path, sep="\t", skiprows=header_lines)


def fold_predictions(run: Path, model: str, group: str) -> list[tuple[str, pd.DataFrame]]:
    """The prediction table of each fold of one model on one cell line (group), by fold file name."""
    files = sorted((Path(run) / "predictions" / model / group).glob("*.tsv"))
    return [(f.stem, read_predictions(f)) for f in files]


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


def _number(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def load_histories(run: str | Path, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per task x epoch (``HISTORY_COLUMNS``) from the finished tasks' result.json.

    Only tasks with a ``done`` marker count, and, given ``metrics``, only those that have a row
    in it, so the curves cover the same folds as the tables. Missing or unreadable results and
    results without a history (older run directories) are skipped: the frame may be empty.
    """
    run = Path(run)
    wanted = None
    if metrics is not None:
        wanted = {tuple(map(str, key)) for key in metrics[["model", "cell_line", "train_cell_line", "fold"]].itertuples(index=False)}
    rows = []
    for path in sorted((run / "tasks").rglob("result.json")):
        if not (path.parent / "done").is_file():
            continue
        try:
            result = json.loads(path.read_text())
            # a gen task trains once for the cell lines in its rows: its curve counts when one of them does
            keys = [tuple(str(row[name]) for name in ("model", "cell_line", "train_cell_line", "fold")) for row in result.get("rows") or [result]]
            key = tuple(str(result[name]) for name in ("model", "cell_line", "train_cell_line", "fold"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        history = result.get("history")
        if (wanted is not None and not wanted.intersection(keys)) or not isinstance(history, list):
            continue
        model, cell_line, train_cell_line, fold = key
        regime = str(result.get("regime") or "specific")
        for position, record in enumerate(history):
            if not isinstance(record, dict):
                continue
            epoch = _number(record.get("epoch", position + 1))
            rows.append({
                "model": model, "column": column_of(cell_line, train_cell_line, regime), "cell_line": cell_line,
                "train_cell_line": train_cell_line, "fold": fold,
                "epoch": int(epoch) if not math.isnan(epoch) else position + 1,
                "loss": _number(record.get("loss")), "valid_auroc": _number(record.get("valid_auroc")),
                "valid_loss": _number(record.get("valid_loss")),
            })
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


# ---- learning curves --------------------------------------------------------------------------
TASK_KEYS = ["model", "column", "fold"]


def learning_curves(histories: pd.DataFrame) -> pd.DataFrame:
    """Per model and epoch: mean and sample SD over its folds (all cell lines) of loss and valid AUROC.

    ``n_folds`` counts the folds that ran the epoch: under early stopping it falls at later
    epochs, and the mean there is over the folds still training.
    """
    columns = ["model", "epoch", "n_folds", "loss_mean", "loss_std", "valid_auroc_mean", "valid_auroc_std"]
    if histories.empty:
        return pd.DataFrame(columns=columns)
    grouped = histories.groupby(["model", "epoch"], sort=False)
    curves = grouped.size().rename("n_folds").reset_index()
    for name in ("loss", "valid_auroc"):
        stats = grouped[name].agg(["mean", "std"]).reset_index(drop=True)
        curves[f"{name}_mean"], curves[f"{name}_std"] = stats["mean"].values, stats["std"].values
    order = {model: i for i, model in enumerate(dict.fromkeys(histories["model"]))}
    curves = curves.assign(order=curves["model"].map(order)).sort_values(["order", "epoch"], kind="stable")
    return curves[columns].reset_index(drop=True)


def memorising(first_loss: float, last_loss: float, first_auroc: float, best_auroc: float, epochs: int) -> bool | None:
    """The memorisation rule of one fold (see ``MEMORISATION_RULE``); None when it cannot be judged."""
    values = (first_loss, last_loss, first_auroc, best_auroc)
    if epochs < 2 or any(v is None or math.isnan(v) for v in values) or first_loss <= 0:
        return None
    return bool(
        last_loss < MEMORISATION_LOSS_RATIO * first_loss
        and best_auroc - first_auroc < MEMORISATION_AUROC_GAIN
        and best_auroc < MEMORISATION_AUROC_MAX
    )


def _first_finite(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite[0]) if finite.size else math.nan


def fold_learning(histories: pd.DataFrame) -> pd.DataFrame:
    """One row per task: epochs run, first/last loss, first/best valid AUROC and the memorisation flag."""
    columns = [*TASK_KEYS, "epochs", "first_loss", "final_loss", "first_valid_auroc", "best_valid_auroc", "memorising"]
    rows = []
    for key, task in histories.groupby(TASK_KEYS, sort=False):
        task = task.sort_values("epoch")
        loss, auroc = task["loss"].to_numpy(float), task["valid_auroc"].to_numpy(float)
        first_loss, final_loss = _first_finite(loss), _first_finite(loss[::-1])
        first_auroc = _first_finite(auroc)
        best_auroc = float(np.nanmax(auroc)) if (~np.isnan(auroc)).any() else math.nan
        epochs = len(task)
        rows.append({
            **dict(zip(TASK_KEYS, key)), "epochs": epochs, "first_loss": first_loss, "final_loss": final_loss,
            "first_valid_auroc": first_auroc, "best_valid_auroc": best_auroc,
            "memorising": memorising(first_loss, final_loss, first_auroc, best_auroc, epochs),
        })
    return pd.DataFrame(rows, columns=columns)


def learning_summary(histories: pd.DataFrame) -> pd.DataFrame:
    """One row per model: folds, epochs run (min, max), final training loss and best valid AUROC
    (mean and sample SD over folds), and how many judged folds the memorisation rule flags."""
    columns = [
        "model", "n_folds", "epochs_min", "epochs_max", "final_loss_mean", "final_loss_std",
        "best_valid_auroc_mean", "best_valid_auroc_std", "judged_folds", "memorising_folds", "memorisation",
    ]
    folds = fold_learning(histories)
    rows = []
    for model, group in folds.groupby("model", sort=False):
        judged = group["memorising"].dropna()
        flagged = int(sum(bool(v) for v in judged))
        rows.append({
            "model": model, "n_folds": len(group),
            "epochs_min": int(group["epochs"].min()), "epochs_max": int(group["epochs"].max()),
            "final_loss_mean": group["final_loss"].mean(), "final_loss_std": group["final_loss"].std(),
            "best_valid_auroc_mean": group["best_valid_auroc"].mean(), "best_valid_auroc_std": group["best_valid_auroc"].std(),
            "judged_folds": len(judged), "memorising_folds": flagged, "memorisation": flagged > 0,
        })
    return pd.DataFrame(rows, columns=columns)


# ---- pooled over folds ------------------------------------------------------------------------
POOLED_COLUMNS = [
    "model", "column", "n_folds", "pairs", "positive_rate", "auroc", "auroc_low", "auroc_high",
    "aupr", "aupr_low", "aupr_high", "precision_at_70_recall",
]


def pooled_metrics(run: str | Path, metrics: pd.DataFrame) -> pd.DataFrame:
    """AUROC and AUPR of each model and column on all its folds' test predictions at once (as
    TransEPI reports its cross-cell table: one score over the union of the held-out chromosomes),
    with bootstrap confidence intervals (:mod:`epizoo.bench.stats`) and the precision at 70 % recall."""
    rows = []
    keyed = metrics.assign(column=metric_columns(metrics), regime=regimes_of(metrics))
    keys = keyed[["model", "cell_line", "train_cell_line", "regime", "column"]].drop_duplicates()
    for model, cell_line, train_cell_line, regime, column in keys.itertuples(index=False):
        tables = [table for _, table in fold_predictions(Path(run), safe_name(model), group_of(cell_line, train_cell_line, regime))]
        if not tables:
            continue
        pooled = pd.concat(tables, ignore_index=True)
        labels, scores = pooled["label"].to_numpy(), pooled["score"].to_numpy()
        rows.append({
            "model": model, "column": column, "n_folds": len(tables), "pairs": len(pooled),
            "positive_rate": float(labels.mean()), **bootstrap_ci(labels, scores),
            "precision_at_70_recall": precision_at_70_recall(labels, scores),
        })
    return pd.DataFrame(rows, columns=POOLED_COLUMNS)


# ---- budgets ----------------------------------------------------------------------------------
BUDGET_COLUMNS = ["model", "column", "n_folds", "train_pairs", "items_seen", "epochs", "max_epochs", "seconds", "stopped_by"]


def _span(values: pd.Series, digits: int = 0) -> str:
    """``6,588`` or ``6,512–6,588``: the range over folds; ``n/a`` when nothing was recorded."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "n/a"
    low, high = (f"{value:,.{digits}f}" for value in (values.min(), values.max()))
    return low if low == high else f"{low}–{high}"


def budget_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """What each model was given and used, per report column: training pairs, items seen (all
    epochs, shifted copies included), epochs run and allowed, training seconds and why it stopped.

    Older run directories lack some of these columns: their cells read ``n/a``.
    """
    metrics = metrics.assign(column=metric_columns(metrics))
    rows = []
    for (model, column), group in metrics.groupby(["model", "column"], sort=False):
        stops = group["stopped_by"].dropna().astype(str) if "stopped_by" in group else pd.Series(dtype=str)
        rows.append({
            "model": model, "column": column, "n_folds": len(group),
            "train_pairs": _span(group.get("n_train_pairs", pd.Series(dtype=float))),
            "items_seen": _span(group.get("items_seen", pd.Series(dtype=float))),
            "epochs": _span(group.get("epochs_run", pd.Series(dtype=float))),
            "max_epochs": "—" if (stops == "fitted").all() and len(stops) else _span(group.get("max_epochs", pd.Series(dtype=float))),
            "seconds": _span(group.get("seconds", pd.Series(dtype=float)), 1),
            "stopped_by": ", ".join(f"{name} ×{count}" for name, count in stops.value_counts(sort=False).items()) or "n/a",
        })
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


def budget_notes(metrics: pd.DataFrame) -> list[str]:
    """Whether the models of each report column were given equal budgets: the same training pairs
    in every fold and, for models trained by epochs, the same allowed epochs."""
    needed = {"n_train_pairs", "max_epochs", "stopped_by"}
    if not needed <= set(metrics):
        return ["This run directory predates budget records: compare models' budgets from their result.json files."]
    metrics = metrics.assign(column=metric_columns(metrics))
    notes = []
    for column, group in metrics.groupby("column", sort=False):
        pairs = group.groupby("fold")["n_train_pairs"].nunique()
        trained = group[group["stopped_by"].astype(str) != "fitted"]
        epochs = set(pd.to_numeric(trained["max_epochs"], errors="coerce").dropna().astype(int))
        unequal_pairs = [str(fold) for fold, n in pairs.items() if n > 1]
        if not unequal_pairs and len(epochs) <= 1:
            allowed = f"; models trained by epochs were allowed {epochs.pop()}" if epochs else ""
            notes.append(f"{column}: equal budgets: every model trained on the same pairs in each fold{allowed}.")
            continue
        parts = []
        if unequal_pairs:
            parts.append(f"the training pairs differ between models in fold(s) {', '.join(unequal_pairs)}")
        if len(epochs) > 1:
            by_model = trained.groupby("model")["max_epochs"].max().astype(int)
            parts.append("allowed epochs differ (" + ", ".join(f"{m} {e}" for m, e in by_model.items()) + ")")
        notes.append(f"{column}: **unequal budgets**: {'; '.join(parts)}. Pass --epochs and --max-pairs to equalise them.")
    return notes + unscored_notes(metrics)


def unscored_notes(metrics: pd.DataFrame) -> list[str]:
    """Test pairs a model of signals could not score (no signal values): said, never silent."""
    if "unscored_test_pairs" not in metrics:
        return []
    unscored = metrics[pd.to_numeric(metrics["unscored_test_pairs"], errors="coerce").fillna(0) > 0]
    return [f"{column}: {', '.join(dict.fromkeys(group['model']))} left {int(group.groupby('fold')['unscored_test_pairs'].max().sum()):,} "
            "test pairs without signal values unscored; the column's scores cover the pairs with signals only."
            for column, group in unscored.assign(column=metric_columns(unscored)).groupby("column", sort=False)]


# ---- provenance -------------------------------------------------------------------------------
def _json_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def model_runtimes(run: str | Path) -> dict[str, dict[str, list[str]]]:
    """Per model, the devices and numeric precisions its finished tasks trained with (result.json)."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted((Path(run) / "tasks").rglob("result.json")):
        if not (path.parent / "done").is_file():
            continue
        result = _json_file(path)
        training = result.get("training") if isinstance(result.get("training"), dict) else {}
        if "model" not in result:
            continue
        entry = found.setdefault(str(result["model"]), {"device": set(), "precision": set()})
        for name in ("device", "precision"):
            if training.get(name):
                entry[name].add(str(training[name]))
    return {model: {name: sorted(values) for name, values in entry.items()} for model, entry in found.items()}


def load_provenance(run: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    """What produced the run: command, store (path, identity, manifest hash), versions of epizoo,
    its plugins, torch and the rest (environment.json), device and precision per model, and the
    models left out. Files an older run directory lacks give empty entries."""
    run = Path(run)
    recorded = _json_file(run / "provenance.json")
    settings = config.get("config") or {}
    store = recorded.get("store") or {"path": settings.get("store"), "identity": settings.get("store_identity"), "manifest_sha256": None}
    return {
        "command": recorded.get("command") or config.get("command"),
        "store": store,
        "environment": _json_file(run / "environment.json"),
        "plugins": recorded.get("plugins") or {},
        "models": model_runtimes(run),
        "skipped_models": recorded.get("skipped_models") or [],
        "recorded": bool(recorded),
    }
