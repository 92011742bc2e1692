"""One task: train a model on one fold, score its test side, and write its prediction table,
checkpoint and result, each renamed into place before the ``done`` marker."""

from __future__ import annotations

import platform
import shutil
from dataclasses import asdict
from typing import Any, Callable

import numpy as np
import pandas as pd

from epizoo import __version__
from epizoo.bench.config import BenchConfig, Task
from epizoo.bench.contact_tasks import is_maps_task
from epizoo.bench.kinds import kind_of
from epizoo.bench.rundir import RunDirectory
from epizoo.checkpoint import checkpoint_model_fields, save_checkpoint
from epizoo.files import write_text
from epizoo.jsontext import dumps
from epizoo.metrics import at_threshold, score_all
from epizoo.plugins import get_model
from epizoo.store.io import open_store

PREDICTION_COLUMNS = (
    "pair", "label", "score", "pair_name", "contig", "cell_line", "enhancer", "enhancer_name", "promoter", "promoter_name",
    "distance", "enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start", "promoter_end",
)


def _prediction_table(ds, pairs: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    sub = ds[["pair_contig", "pair_cell_line", "pair_enhancer", "pair_promoter", "pair_distance"]].isel(pairs=pairs).compute()
    enhancers, promoters = sub["pair_enhancer"].values, sub["pair_promoter"].values
    return pd.DataFrame({
        "pair": pairs,
        "label": labels.astype(int),
        "score": np.round(scores.astype(np.float64), 7),
        "pair_name": ds.epizoo.pair_names(pairs),  # the source row's name: predictions join back to a user's BEDPE
        "contig": ds["contig_id"].values[sub["pair_contig"].values],
        "cell_line": ds["cell_line_id"].values[sub["pair_cell_line"].values],
        "enhancer": enhancers,
        "enhancer_name": ds["enhancer_name"].isel(enhancers=enhancers).values,
        "promoter": promoters,
        "promoter_name": ds["promoter_name"].isel(promoters=promoters).values,
        "distance": sub["pair_distance"].values,
        **_element_coordinates(ds, "enhancer", enhancers),
        **_element_coordinates(ds, "promoter", promoters),
    }, columns=list(PREDICTION_COLUMNS))


def _element_coordinates(ds, kind: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """``KIND_contig KIND_start KIND_end`` of the elements ``rows`` (0-based half-open, as stored)."""
    contigs = np.asarray(ds["contig_id"].values, dtype=object)
    found = ds[[f"{kind}_contig", f"{kind}_start", f"{kind}_end"]].isel({f"{kind}s": rows}).compute()
    return {
        f"{kind}_contig": contigs[found[f"{kind}_contig"].values],
        f"{kind}_start": found[f"{kind}_start"].values.astype(np.int64),
        f"{kind}_end": found[f"{kind}_end"].values.astype(np.int64),
    }


def _header(config: BenchConfig, task: Task, cell_line: str) -> str:
    import torch

    regime = "" if task.regime == "specific" else f"; regime {task.regime}"
    return (
        f"# epizoo {__version__}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"# command: {config.command}\n"
        f"# model {task.model}; cell line {cell_line} (trained on {task.train_cell_line}); fold {task.fold}{regime}\n"
    )


def _task_device(config: BenchConfig) -> str:
    """On a dask worker with GPUs and ``--device auto`` or ``cuda``: the worker's own GPU, so that N
    workers train on N GPUs, not all on GPU 0. A local cluster names its workers 0..N-1 (worker i
    takes cuda:i mod the GPU count); a worker that sees one GPU (a SLURM job with --gres=gpu:1) takes
    cuda:0. ``cuda:N`` and ``cpu`` are kept as given; outside dask, ``auto`` is resolved later."""
    import torch

    if config.device not in ("auto", "cuda") or not torch.cuda.is_available():
        return config.device
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return config.device
    index = name if isinstance(name, int) else int(name) if str(name).isdigit() else sum(map(ord, str(name)))
    return f"cuda:{index % torch.cuda.device_count()}"


def run_task(
    config: BenchConfig,
    task: Task,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train and score one task, or return its recorded result when it is already done."""
    run = RunDirectory(config.out)
    task_dir = run.task_dir(task)
    recorded = run.result(task)
    if recorded is not None:
        return recorded
    for leftover in (task_dir, run.checkpoint(task)):  # a half-finished attempt: start over
        shutil.rmtree(leftover, ignore_errors=True)
    run.predictions(task).unlink(missing_ok=True)

    spec = get_model(task.model)
    kind = kind_of(spec)  # the one place a task asks what kind of model it runs
    result = kind.train(spec, config, task, config.train_options(device=_task_device(config)), run, on_epoch, on_batch)
    maps_only = is_maps_task(task)
    threshold = result.summary.get("valid_threshold", np.nan)
    metrics = result.summary["contact_metrics"]["model"] if maps_only else test_metrics(result.test_labels, result.test_scores, threshold)
    ds = open_store(config.store)
    record = {
        "model": task.model, "cell_line": task.cell_line, "train_cell_line": task.train_cell_line, "fold": task.fold,
        "regime": task.regime, "metrics": metrics, "history": result.history, "training": result.summary, "fold_info": task.info,
        "seconds": float(sum(epoch.get("seconds", 0.0) for epoch in result.history)),
        "cpu_seconds": float(sum(epoch.get("cpu_seconds", 0.0) for epoch in result.history)),
    }
    rows = []
    for line, pairs in ({} if maps_only else task.tests or {task.cell_line: task.test}).items():  # gen scores each cell line apart
        keep = np.isin(result.test_pairs, pairs)
        labels, scores = result.test_labels[keep], result.test_scores[keep]
        table = _prediction_table(ds, result.test_pairs[keep], labels, scores)
        where = run.predictions(task, line if task.tests else None)
        write_text(where, _header(config, task, line) + table.to_csv(sep="\t", index=False))
        if task.tests:  # one metrics row per cell line; the training (history) is the record's
            rows.append({**record, "cell_line": line, "metrics": test_metrics(labels, scores, threshold), "history": []})
    if rows:
        record["rows"] = rows
    description = {
        **checkpoint_model_fields(spec, result.summary["hparams"]),  # format, versions, encoder, lengths, full hparams
        "model": task.model, "card": asdict(spec.card),
        "split": {"name": config.split, "options": config.split_options}, "precision": result.summary.get("precision"),
        "recipe": result.summary["recipe"],
        "fold": {"name": task.fold, "cell_line": task.cell_line, "train_cell_line": task.train_cell_line, **task.info,
                 **({"regime": task.regime} if task.regime != "specific" else {})},
        "store": {"path": config.store, **{k: str(v) for k, v in ds.attrs.items()}}, "metrics": metrics,
        "embedding_source": result.summary.get("embedding_source"),
        "kmer_conv_path": result.summary.get("kmer_conv_path"), "probe": result.summary.get("probe"),
        **kind.checkpoint_fields(spec, result),
    }
    save_checkpoint(run.checkpoint(task), description, state=result.state, estimator=result.estimator,
                    sides={"train": task.train, "valid": task.valid, "test": task.test})  # predict and explain read them
    write_text(task_dir / "result.json", dumps(record, indent=2, default=_json_default) + "\n")
    (task_dir / "done").touch()
    return record


def test_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every registered metric of a test side, and F1/MCC at the threshold chosen on the fold's
    validation side (max F1 there), never on the test pairs themselves."""
    chosen = at_threshold(labels, scores, threshold)
    return {**score_all(labels, scores), "valid_threshold": threshold,
            "f1_at_valid_threshold": chosen["f1"], "mcc_at_valid_threshold": chosen["mcc"]}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
