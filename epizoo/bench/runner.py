"""``epizoo bench``: every model on every fold, as independent tasks written into a run directory.

A *task* is one model on one fold of one cell line (or one train -> test cell-line pair for the
cross-cell-line splits). Each task writes its prediction table, checkpoint and result under
temporary names, renames them into place, and only then writes its ``done`` marker; ``--resume``
skips tasks with a marker and redoes the others from scratch, so no fold is ever lost or counted
twice. ``metrics.tsv`` is rebuilt from the per-task results after every task. Tasks run in this
process, or on a dask.distributed cluster (a local one with ``--workers N`` or an existing one
with ``--scheduler``), writing exactly the same files.

This module runs the tasks (:func:`bench`, locally or on dask); the parts live beside it:
:mod:`.config` (:class:`BenchConfig`, :class:`Task`), :mod:`.plan`, :mod:`.rundir` (the run
directory, its lock and identity, metrics.tsv), :mod:`.task` (one task, the prediction table) and
:mod:`.progress`. Their public names are re-exported here.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import pandas as pd

from epizoo import checkpoint
from epizoo.bench.config import CROSS_SPLITS, EXECUTION_KEYS, LEAKY_SPLITS, LOCATION_KEYS, BenchConfig, Task, safe_name
from epizoo.bench.contact_tasks import plan_maps
from epizoo.bench.kinds import CONTACT_MAPS, PAIR_ONLY_OPTIONS, kind_of
from epizoo.bench.plan import check_controls, plan
from epizoo.bench.progress import PlainProgress, QuietProgress, RichProgress, make_progress
from epizoo.bench.regimes import check_split, parse_regimes
from epizoo.bench.rundir import (
    LOCK_FILE, METRIC_COLUMNS, RunDirectory, RunDirectoryError, _check_out, collect_results, environment, metrics_table,
    provenance, write_metrics,
)
from epizoo.bench.task import PREDICTION_COLUMNS, _json_default, run_task
from epizoo.devices import resolve_device
from epizoo.encoders import dna2vec_unavailable_reason, dna2vec_vectors
from epizoo.errors import EpizooError
from epizoo.files import write_text
from epizoo.jsontext import dumps
from epizoo.plugins import get_model, get_models
from epizoo.schema import store_layers
from epizoo.store.integrity import verify_before_reading_all
from epizoo.store.io import open_store
from epizoo.training.loader import BALANCE_MODES

__all__ = [
    "CROSS_SPLITS", "EXECUTION_KEYS", "LEAKY_SPLITS", "LOCATION_KEYS", "LOCK_FILE", "METRIC_COLUMNS", "PREDICTION_COLUMNS",
    "SCHEDULER_TIMEOUT", "BenchConfig", "PlainProgress", "QuietProgress", "RichProgress", "RunDirectory",
    "RunDirectoryError", "Task", "bench", "collect_results", "default_command", "environment", "make_progress",
    "metrics_table", "plan", "run_task", "safe_name", "write_metrics",
]

SCHEDULER_TIMEOUT = 10  # seconds to wait for an existing dask scheduler to answer


def _run_local(config: BenchConfig, tasks: list[Task], run: RunDirectory, progress) -> None:
    for task in tasks:
        done = run.result(task) is not None
        progress.start(task, skipped=done)
        run_task(
            config, task,
            on_epoch=lambda record, task=task: progress.epoch(task, record),
            on_batch=lambda record, task=task: progress.batch(task, record),
        )
        progress.finish(task)
        write_metrics(run, tasks)


class _Cluster:
    """A dask client, on a local cluster (``--workers N``) or an existing scheduler (``--scheduler``).

    Connected before the run directory is made: a scheduler that does not answer within
    :data:`SCHEDULER_TIMEOUT` seconds is one line and leaves nothing behind. dask's own log lines and
    warnings are kept off the terminal (``--no-progress`` means warnings from epizoo only); the
    dashboard address is shown when the cluster starts.

    Built from what it needs (``workers`` or ``scheduler``; ``gpus``: GPUs a local cluster's workers
    take one each, 0 for none), so that ``epizoo scan`` makes one without a bench configuration;
    :meth:`for_bench` is the bench's.
    """

    def __init__(self, workers: int | None, scheduler: str | None, log: Callable[[str], None], gpus: int = 0):
        import logging

        from distributed import Client, LocalCluster

        self.cluster = None
        for name in ("distributed", "bokeh", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
        with _quiet_dask():
            if scheduler:
                try:
                    self.client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
                except (OSError, TimeoutError, ValueError) as exc:
                    reason = "did not answer" if isinstance(exc, (OSError, TimeoutError)) else f"is not a dask address ({exc})"
                    raise EpizooError(
                        f"no dask scheduler at {scheduler}: it {reason} within {SCHEDULER_TIMEOUT} s; "
                        "start one with `dask scheduler`, or use --workers N for a local cluster"
                    ) from None
            else:
                self.cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR, **({"resources": {"GPU": 1}} if gpus else {}),
                )
                self.client = Client(self.cluster)
        where = "local cluster of " + f"{workers} processes" if self.cluster is not None else f"scheduler {scheduler}"
        if self.cluster is not None and gpus:
            shared = f"; {workers} workers share {gpus} GPUs" if workers > gpus else ""
            where += f", one GPU each (worker i on cuda:i mod {gpus}){shared}"
        link = self.client.dashboard_link
        log(f"dask: {where}" + (f"; dashboard at {link}" if link else ""))

    @classmethod
    def for_bench(cls, config: BenchConfig, log: Callable[[str], None]) -> _Cluster:
        """The bench's cluster: a local one's workers take this machine's GPUs (:func:`local_gpus`)."""
        return cls(config.workers, config.scheduler, log, gpus=0 if config.scheduler else local_gpus(config))

    def close(self) -> None:
        with _quiet_dask():
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def local_gpus(config: BenchConfig) -> int:
    """GPUs a local cluster's workers take one each: those of this machine, unless --device says
    cpu or names one GPU (then every task goes there)."""
    import torch

    if config.device not in ("auto", "cuda") or not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count()


def gpu_resources(config: BenchConfig, client) -> dict[str, int]:
    """What each task asks the scheduler for: one GPU when the workers advertise GPUs (a local
    cluster on a GPU machine, or workers started with ``--resources GPU=1``), so that a worker runs
    one task on its GPU at a time; nothing otherwise, as a request no worker can meet waits forever."""
    if config.device == "cpu":
        return {}
    workers = client.scheduler_info()["workers"].values()
    return {"GPU": 1} if any((worker.get("resources") or {}).get("GPU") for worker in workers) else {}


def _quiet_dask():
    """Hide dask's warnings (large graphs, ports, shutdown): they are not the user's to act on."""
    import contextlib

    @contextlib.contextmanager
    def quiet():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"distributed(\..*)?$")
            warnings.filterwarnings("ignore", module=r"dask(\..*)?$")
            warnings.filterwarnings("ignore", message=r".*(graph|port|dashboard|worker).*", category=UserWarning)
            yield

    return quiet()


def _run_dask(config: BenchConfig, tasks: list[Task], run: RunDirectory, progress, cluster: _Cluster) -> None:
    from distributed import as_completed

    client = cluster.client
    with _quiet_dask():
        threads = config.threads or max(1, (os.cpu_count() or 1) // max(1, len(client.scheduler_info()["workers"])))
        worker_config = BenchConfig(**{**asdict(config), "threads": threads})
        resources = gpu_resources(config, client)
        futures, by_key = {}, {}
        for task in tasks:  # plan order puts a gen task before the best tasks that start from it
            after = [by_key[task.after]] if task.after in by_key else []
            future = client.submit(_run_after, worker_config, task, *after, key=f"epizoo-{task.key}-{os.getpid()}", pure=False,
                                   **({"resources": resources} if resources else {}))  # a GPU each, only where workers have one
            futures[future], by_key[task.key] = task, future
        for task in tasks:
            progress.start(task, skipped=run.result(task) is not None, remote=True)
        for future in as_completed(futures):
            future.result()  # re-raises a task's error here, with its message
            progress.finish(futures[future])
            write_metrics(run, tasks)


def _run_after(config: BenchConfig, task: Task, *finished) -> dict:
    """:func:`run_task` once the tasks it depends on (dask futures passed as ``finished``) are done."""
    return run_task(config, task)


def bench(config: BenchConfig, resume: bool = False, progress=None) -> pd.DataFrame:
    """Plan, check and run a benchmark into ``config.out``; return the metrics table.

    This is ``epizoo bench`` from Python; ``config`` holds its options.

    Args:
        config: the benchmark (:class:`BenchConfig`: store, models, split, regimes, controls,
            training options, where to run and write); its ``models``, ``regime``, ``store`` and ``out``
            are resolved in place.
        resume: keep the tasks of an earlier run in ``config.out`` that finished (their ``done``
            marker) and redo the others.
        progress: where progress and notes go (:func:`make_progress`); default: made from
            ``config.progress``.

    Returns:
        The metrics table of the finished tasks, as written to ``metrics.tsv``.

    Raises:
        UnknownNameError: an unknown model or cell line name.
        StoreError: the store is missing or damaged.
        LeakageError: a fold's train and test sides share an element (splits that leak by design warn).
        RunDirectoryError: ``config.out`` holds another run, or is not a run.
        EpizooError: an option out of range, an unknown regime, a model that cannot read the store, or
            a bad device.
    """
    if config.balance not in BALANCE_MODES:
        raise EpizooError(f"unknown --balance {config.balance!r}; choose one of {', '.join(BALANCE_MODES)}")
    for option, value in (("--models", config.models), ("--cell-lines", config.cell_lines), ("--folds", config.folds)):
        if value is not None and not [name for name in ([value] if isinstance(value, str) else value) if str(name).strip()]:
            raise EpizooError(f"{option} names nothing; give names separated by commas, or leave the option out")
    config.regime = parse_regimes(config.regime or ["specific"])
    check_split(config)
    check_controls(config)
    if config.max_pairs is not None and config.max_pairs < 4:
        raise EpizooError(f"--max-pairs {config.max_pairs} cannot hold two training pairs of each class; give at least 4")
    every_model = config.models in (["all"], "all")
    config.models = list(get_models()) if every_model else [get_model(m).name for m in config.models]
    if not config.models:
        raise EpizooError("no models are registered; install a model plugin or check the EPIZOO_PLUGINS variable")
    device = resolve_device(config.device)  # a bad --device fails before anything is written
    # Absolute paths, so that dask workers in another working directory read and write the same files.
    config.store, config.out = str(Path(config.store).resolve()), str(Path(config.out).resolve())
    ds = open_store(config.store)
    verify_before_reading_all(config.store)  # a same-size garbage chunk passes open's size check
    config.store_identity = store_identity(ds)
    progress = progress or make_progress(config.progress, config.train_options())
    config.models, left_out = _models_for_options(config, every_model, progress.log)
    maps_only = all(kind_of(name) is CONTACT_MAPS for name in config.models)
    if maps_only:  # the contact-map benchmark: held-out maps, not pairs (epizoo.bench.contact_tasks)
        if config.regime != ["specific"] or config.controls:
            raise EpizooError("contact-map models run the specific regime only; leave --regime and --control out")
        tasks, skipped, leakage, unreadable = plan_maps(ds, config), [], [], {}
    else:
        config.models, unreadable = _models_for_store(ds, config.store, config.models, every_model, config.regime)
        for name, missing in unreadable.items():
            progress.log(f"skipped {name}: it reads {missing}, which this store does not hold")
        tasks, skipped, leakage = plan(ds, config, warn=progress.log)
    run = RunDirectory(config.out)
    _check_out(run.root)
    cluster = _Cluster.for_bench(config, progress.log) if config.workers or config.scheduler else None
    try:
        run.open(config, resume)
        write_text(run.environment, dumps(environment(str(device), config.threads), indent=2) + "\n")
        skipped_models = {**left_out, **{name: f"reads {missing}, which this store does not hold" for name, missing in unreadable.items()}}
        write_text(run.provenance, dumps(provenance(config, skipped_models), indent=2) + "\n")
        write_text(run.leakage, dumps(leakage, indent=2, default=_json_default) + "\n")
        write_text(run.skipped, pd.DataFrame(skipped, columns=["cell_line", "train_cell_line", "fold", "reason"]).to_csv(sep="\t", index=False))
        for entry in skipped:
            progress.log(f"skipped {entry['cell_line']} fold {entry['fold']}: {entry['reason']}")
        _say_which_embedding(config, progress)
        with progress.session(tasks):
            if cluster is not None:
                _run_dask(config, tasks, run, progress, cluster)
            else:
                _run_local(config, tasks, run, progress)
        return write_metrics(run, tasks)
    finally:
        run.close()
        if cluster is not None:
            cluster.close()


def store_identity(ds) -> str:
    """What ties a run to its store (:func:`epizoo.checkpoint.store_identity` of its attributes)."""
    return checkpoint.store_identity(ds.attrs)


def _models_for_options(config: BenchConfig, every_model: bool, log) -> tuple[list[str], dict[str, str]]:
    """The models the given options apply to, and those left out with why: a contact-map model named
    outright with a pair-only option is refused in one line; with ``--models all`` it is left out, and said."""
    given = [flag for key, (flag, default) in PAIR_ONLY_OPTIONS.items()
             if (getattr(config, key) if key == "demo" else getattr(config, key) != default)]
    if not given:
        return config.models, {}
    contact = [name for name in config.models if not kind_of(name).takes_pair_options()]
    if contact and not every_model:
        raise EpizooError(f"{', '.join(given)} applies to pair models only; {', '.join(contact)} is a contact-map model: "
                          f"leave {' and '.join(given)} out, or bench it in a run of its own")
    reasons = {name: f"{', '.join(given)} applies to pair models only, and it is a contact-map model" for name in contact}
    for name, reason in reasons.items():
        log(f"skipped {name}: {reason}")
    kept = [name for name in config.models if name not in contact]
    if not kept:
        raise EpizooError(f"{', '.join(given)} applies to pair models only, and every model chosen is a contact-map model")
    return kept, reasons


def _models_for_store(ds, store: str, names: list[str], every_model: bool, regimes: list[str]) -> tuple[list[str], dict[str, str]]:
    """The models whose inputs the store holds; with ``--models all`` the others are skipped (and
    listed), a model named outright that cannot read the store is one line. A contact-map model
    reads the genome layer, and runs the specific regime only."""
    layers = set(store_layers(ds))
    unreadable = {}
    for name in names:
        spec = get_model(name)
        kind = kind_of(spec)
        missing = ", ".join(sorted(kind.store_needs(spec) - layers)) or kind.regime_problem(regimes)
        if missing:
            unreadable[name] = missing
    if unreadable and not every_model:
        name, missing = next(iter(unreadable.items()))
        if missing.startswith("the specific"):
            raise EpizooError(f"{name} is a contact-map model: it runs {missing}; leave it out of --models or drop --regime")
        how = "--signals" if "signals" in missing else "--genome (a genome layer)" if "genome" in missing else "--genome or --regions"
        raise EpizooError(f"{name} reads {missing}, which store {store} does not hold; rebuild it with {how} or choose other --models")
    kept = [name for name in names if name not in unreadable]
    if not kept:
        raise EpizooError(f"no model can read this store (it holds {', '.join(sorted(layers))}); choose models with --models")
    return kept, unreadable


def _say_which_embedding(config: BenchConfig, progress) -> None:
    """Tell the user, before training, when embedding models cannot start from the dna2vec vectors."""
    if any(get_model(name).uses_pretrained_embedding for name in config.models) and dna2vec_vectors() is None:
        progress.log(f"dna2vec vectors unavailable ({dna2vec_unavailable_reason()}); k-mer embedding models start from "
                     "6-mer vectors trained with gensim on each fold's training side")


def default_command() -> str:
    return " ".join(["epizoo", *sys.argv[1:]]) if sys.argv else "epizoo bench"
