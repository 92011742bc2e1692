"""``epizoo bench``: every model on every fold, as independent tasks written into a run directory.

A *task* is one model on one fold of one cell line (or one train -> test cell-line pair for the
cross-cell-line splits). Each task writes its prediction table, checkpoint and result under
temporary names, renames them into place, and only then writes its ``done`` marker; ``--resume``
skips tasks with a marker and redoes the others from scratch, so no fold is ever lost or counted
twice. ``metrics.tsv`` is rebuilt from the per-task results after every task. Tasks run in this
process, or on a dask.distributed cluster (a local one with ``--workers N`` or an existing one
with ``--scheduler``), writing exactly the same files.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from epizoo import __version__
from epizoo.errors import EmptyResultError, EpizooError
from epizoo.training.checkpoint import atomic_write_text, save_checkpoint
from epizoo.training.trainer import Sides, TrainOptions, train_fold

CROSS_SPLITS = ("cross-cell-line", "cross-cell-line-strict")
# Splits that share elements between sides by design (pair-level random; cross-cell-line without
# strict, where one element is measured in several cell lines): their leakage report is recorded
# and a warning printed instead of refusing the fold. Every other split is checked strictly.
LEAKY_SPLITS = ("random", "cross-cell-line")
# Settings that change how a run executes but not what it computes: a resume may change them.
EXECUTION_KEYS = ("workers", "scheduler", "device", "threads", "num_workers", "progress", "command")
# Where the store and the run are: a run directory may be moved or copied, and the store with it.
# The store is identified by its content instead (``store_identity``).
LOCATION_KEYS = ("store", "out")
LOCK_FILE = ".lock"
SCHEDULER_TIMEOUT = 10  # seconds to wait for an existing dask scheduler to answer
METRIC_COLUMNS = ("auroc", "aupr", "positive_rate", "aupr_ratio", "f1", "mcc", "precision", "recall", "n_pos", "n_neg")
PREDICTION_COLUMNS = (
    "pair", "label", "score", "pair_name", "contig", "cell_line", "enhancer", "enhancer_name", "promoter", "promoter_name",
    "distance",
)


class RunDirectoryError(EpizooError):
    """A run directory that holds another run, or is not a run."""


@dataclass
class BenchConfig:
    store: str
    out: str
    models: list[str]
    split: str = "loco"
    split_options: dict[str, Any] = field(default_factory=dict)
    cell_lines: list[str] | None = None
    folds: list[str] | None = None
    tiny: bool = False
    demo: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    max_pairs: int | None = None
    budget: float | None = None  # wall-clock minutes per task
    lr: float | None = None
    precision: str = "auto"
    balance: str = "augment"
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    num_workers: int = 0
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = True
    command: str = ""
    store_identity: str = ""  # the store's creation time and sequence hash: resuming on a rebuilt store is refused

    def train_options(self, device: str | None = None, threads: int | None = None) -> TrainOptions:
        return TrainOptions(
            tiny=self.tiny, demo=self.demo, epochs=self.epochs, batch_size=self.batch_size, max_pairs=self.max_pairs,
            budget_minutes=self.budget, lr=self.lr, precision=self.precision, balance=self.balance, device=device or self.device,
            threads=threads or self.threads, seed=self.seed, num_workers=self.num_workers,
        )

    def defining(self) -> dict[str, Any]:
        """The settings that decide the results: two runs with equal ones are the same run."""
        return _defining(asdict(self))


def _defining(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key not in EXECUTION_KEYS + LOCATION_KEYS}


@dataclass
class Task:
    model: str
    cell_line: str  # the test cell line
    train_cell_line: str  # the training cell line(s): the same one except for cross-cell-line splits
    fold: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The cell-line level of the output paths: ``K562``, or ``GM12878-to-K562``."""
        if self.train_cell_line == self.cell_line:
            return safe_name(self.cell_line)
        return f"{safe_name(self.train_cell_line)}-to-{safe_name(self.cell_line)}"

    @property
    def key(self) -> str:
        return f"{self.model}/{self.group}/{safe_name(self.fold)}"


def safe_name(text: str) -> str:
    """A name usable as one path component."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in str(text)) or "_"


# ---- planning ---------------------------------------------------------------------------------
def _cell_line_names(ds) -> list[str]:
    return [str(name) for name in ds["cell_line_id"].values]


def _selected_cell_lines(ds, config: BenchConfig) -> list[str]:
    present = _cell_line_names(ds)
    if not config.cell_lines:
        return present
    lookup = {name.lower(): name for name in present}
    unknown = [name for name in config.cell_lines if name.lower() not in lookup]
    if unknown:
        raise EmptyResultError(f"--cell-lines: {', '.join(unknown)} not in the store; it has {', '.join(present)}")
    return [lookup[name.lower()] for name in config.cell_lines]


def _split_calls(ds, config: BenchConfig) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(train cell line, test cell line, split options) for each call of the split function."""
    # The cell lines come from --cell-lines; the cross-cell-line splits' train/test too. Other splits
    # may have options of those names (the chromosome split's test=chr8).
    reserved = {"cell_lines", *(("train", "test") if config.split in CROSS_SPLITS else ())} & set(config.split_options)
    if reserved:
        raise EpizooError(f"--split-option {', '.join(sorted(reserved))}: choose cell lines with --cell-lines instead")
    lines = _selected_cell_lines(ds, config)
    if config.split in CROSS_SPLITS:
        if len(lines) < 2:
            raise EmptyResultError(f"{config.split} needs at least 2 cell lines; the selection has {', '.join(lines)}")
        for train in lines:
            for test in lines:
                if train != test:
                    yield train, test, {**config.split_options, "train": [train], "test": [test]}
        return
    for line in lines:
        options = dict(config.split_options, cell_lines=[line])
        if config.split == "loco" and config.folds:
            options["folds"] = list(config.folds)
        yield line, line, options


def _check_fold(ds, fold, split: str, report_leak: Callable[[str], None]) -> dict[str, Any]:
    from epizoo.splits import check_leakage

    if split in LEAKY_SPLITS:
        report = check_leakage(ds, fold, strict=False)
        if report.leaks:
            report_leak(f"warning: {report.summary()}")
        return report.as_dict()
    return check_leakage(ds, fold, strict=True).as_dict()


def _skip_reason(labels: np.ndarray, test: np.ndarray) -> str | None:
    if test.sum() == 0:
        return "the test side is empty"
    positives = int(labels[test].sum())
    if positives == 0:
        return "the test side has no positives"
    if positives == int(test.sum()):
        return "the test side has no negatives"
    return None


def plan(ds, config: BenchConfig, warn: Callable[[str], None] = print) -> tuple[list[Task], list[dict], list[dict]]:
    """Every (model, cell line, fold) task, the folds skipped with their reason, and the leakage reports.

    The leakage check runs on every fold before anything trains: strict (raising
    :class:`~epizoo.errors.LeakageError`) except for the splits that leak by design.
    """
    from epizoo.plugins import get_split

    split = get_split(config.split)
    labels = np.asarray(ds["pair_label"].values).astype(bool)
    tasks, skipped, leakage = [], [], []
    for train_line, test_line, options in _split_calls(ds, config):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the leaky split warns once, below, per fold
            folds = split.function(ds, **options)
        for fold in folds:
            if config.folds and fold.name not in config.folds:
                continue
            leakage.append({"cell_line": test_line, "train_cell_line": train_line, **_check_fold(ds, fold, config.split, warn)})
            reason = _skip_reason(labels, fold.test)
            if reason is not None:
                skipped.append({"cell_line": test_line, "train_cell_line": train_line, "fold": fold.name, "reason": reason})
                continue
            sides = [np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)]
            info = json.loads(json.dumps(fold.info, default=str))
            tasks += [Task(model, test_line, train_line, fold.name, *sides, info) for model in config.models]
    if config.folds and not tasks and not skipped:
        raise EmptyResultError(f"--folds {', '.join(config.folds)} matched no fold of the {config.split} split")
    if not tasks:
        raise EmptyResultError("no fold has both positives and negatives on its test side; see skipped folds or choose another split")
    return tasks, skipped, leakage


# ---- the run directory ------------------------------------------------------------------------
class RunDirectory:
    """Paths of a run, and the rules for starting or resuming one.

    :meth:`open` takes an exclusive lock on ``<run>/.lock`` (``fcntl.flock``) that the process holds
    until :meth:`close`: a second ``bench`` on the same directory, ``--resume`` or not, stops with
    one line instead of redoing the first one's tasks. The kernel drops the lock when its process
    dies, so a killed run never leaves the directory locked.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock: Any = None

    config = property(lambda self: self.root / "config.json")
    environment = property(lambda self: self.root / "environment.json")
    metrics = property(lambda self: self.root / "metrics.tsv")
    skipped = property(lambda self: self.root / "skipped.tsv")
    leakage = property(lambda self: self.root / "leakage.json")
    lock = property(lambda self: self.root / LOCK_FILE)

    def task_dir(self, task: Task) -> Path:
        return self.root / "tasks" / task.key

    def predictions(self, task: Task) -> Path:
        return self.root / "predictions" / task.model / task.group / f"{safe_name(task.fold)}.tsv"

    def checkpoint(self, task: Task) -> Path:
        return self.root / "checkpoints" / task.key

    def result(self, task: Task) -> dict[str, Any] | None:
        """The recorded result of a finished task; None when it is not finished, or its result is
        missing or unreadable (then the task is redone)."""
        task_dir = self.task_dir(task)
        if not (task_dir / "done").is_file():
            return None
        try:
            record = json.loads((task_dir / "result.json").read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and "metrics" in record else None

    def open(self, config: BenchConfig, resume: bool) -> None:
        """Create and lock the directory, or check that ``--resume`` continues the same run."""
        if self.root.exists() and not self.root.is_dir():
            raise RunDirectoryError(f"--out {self.root} is a file, not a folder; choose a new or empty folder for the run")
        if not self.config.is_file() and self.root.is_dir() and any(p.name != LOCK_FILE for p in self.root.iterdir()):
            raise RunDirectoryError(f"{self.root} exists and is not an epizoo run; choose an empty or new --out")
        created = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the run directory {self.root} ({exc.strerror}); choose a writable --out") from None
        try:
            self._check(config, resume)
            atomic_write_text(self.config, json.dumps({"command": config.command, "config": asdict(config), "defining": config.defining()}, indent=2) + "\n")
        except BaseException:
            self.close()
            if created:
                shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _take_lock(self) -> None:
        import fcntl

        handle = open(self.lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunDirectoryError(
                f"{self.root} is in use by another epizoo bench ({holder}); wait for it to finish, then --resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {platform.node()}\n")
        handle.flush()
        self._lock = handle

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would race with a waiting run)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _check(self, config: BenchConfig, resume: bool) -> None:
        if not self.config.is_file():
            return
        if not resume:
            raise RunDirectoryError(f"{self.root} already holds a run; pass --resume to continue it or choose another --out")
        try:
            previous = json.loads(self.config.read_text())
            defining = _defining(previous["defining"])
        except (OSError, ValueError, KeyError, TypeError):
            raise RunDirectoryError(f"{self.config} is unreadable or not an epizoo run configuration; choose another --out") from None
        mismatch = _first_difference(defining, config.defining())
        if mismatch:
            raise RunDirectoryError(f"{self.root} holds a run with a different configuration ({mismatch}); choose another --out")


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    new = json.loads(json.dumps(new))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"
    return None


def environment(device: str, threads: int | None) -> dict[str, Any]:
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "epizoo": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "threads": threads or torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- one task ---------------------------------------------------------------------------------
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
    }, columns=list(PREDICTION_COLUMNS))


def _header(config: BenchConfig, task: Task) -> str:
    import torch

    return (
        f"# epizoo {__version__}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"# command: {config.command}\n"
        f"# model {task.model}; cell line {task.cell_line} (trained on {task.train_cell_line}); fold {task.fold}\n"
    )


def _task_device(config: BenchConfig) -> str:
    """On a dask worker with GPUs and ``--device auto``: one GPU per worker, round-robin."""
    import torch

    if config.device != "auto" or not torch.cuda.is_available():
        return config.device
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return config.device
    index = name if isinstance(name, int) else sum(map(ord, str(name)))
    return f"cuda:{index % torch.cuda.device_count()}"


def run_task(
    config: BenchConfig,
    task: Task,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train and score one task, or return its recorded result when it is already done."""
    from epizoo import open_store
    from epizoo.metrics import score_all
    from epizoo.plugins import get_model

    run = RunDirectory(config.out)
    task_dir = run.task_dir(task)
    recorded = run.result(task)
    if recorded is not None:
        return recorded
    for leftover in (task_dir, run.checkpoint(task)):  # a half-finished attempt: start over
        shutil.rmtree(leftover, ignore_errors=True)
    run.predictions(task).unlink(missing_ok=True)

    spec = get_model(task.model)
    options = config.train_options(device=_task_device(config))
    result = train_fold(spec, config.store, Sides(task.train, task.valid, task.test), options, on_epoch, on_batch)
    metrics = score_all(result.test_labels, result.test_scores)
    ds = open_store(config.store)
    table = _prediction_table(ds, result.test_pairs, result.test_labels, result.test_scores)
    atomic_write_text(run.predictions(task), _header(config, task) + table.to_csv(sep="\t", index=False))

    record = {
        "model": task.model, "cell_line": task.cell_line, "train_cell_line": task.train_cell_line, "fold": task.fold,
        "metrics": metrics, "history": result.history, "training": result.summary, "fold_info": task.info,
        "seconds": float(sum(epoch.get("seconds", 0.0) for epoch in result.history)),
        "cpu_seconds": float(sum(epoch.get("cpu_seconds", 0.0) for epoch in result.history)),
    }
    description = {
        "model": task.model, "card": asdict(spec.card), "hparams": result.summary["hparams"],
        "recipe": result.summary["recipe"], "fold": {"name": task.fold, "cell_line": task.cell_line, "train_cell_line": task.train_cell_line, **task.info},
        "store": {"path": config.store, **{k: str(v) for k, v in ds.attrs.items()}}, "metrics": metrics,
        "embedding_source": result.summary.get("embedding_source"),
    }
    save_checkpoint(run.checkpoint(task), description, state=result.state, estimator=result.estimator)
    atomic_write_text(task_dir / "result.json", json.dumps(record, indent=2, default=_json_default) + "\n")
    (task_dir / "done").touch()
    return record


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# ---- results ----------------------------------------------------------------------------------
def collect_results(run: RunDirectory, tasks: list[Task]) -> list[dict[str, Any]]:
    """The recorded results of the finished tasks, in plan order."""
    return [record for record in map(run.result, tasks) if record is not None]


def metrics_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in results:
        training = r["training"]
        rows.append({
            "model": r["model"], "cell_line": r["cell_line"], "train_cell_line": r["train_cell_line"], "fold": r["fold"],
            **{name: r["metrics"].get(name, np.nan) for name in METRIC_COLUMNS},
            **{name: value for name, value in r["metrics"].items() if name not in METRIC_COLUMNS},
            "best_epoch": training.get("best_epoch"), "epochs_run": training.get("epochs_run"),
            "stopped_by": training.get("stopped_by"), "n_train_pairs": training.get("n_train_pairs"),
            "n_train_items": training.get("n_train_items"), "embedding_source": training.get("embedding_source") or "",
            "seconds": round(r.get("seconds", 0.0), 3), "cpu_seconds": round(r.get("cpu_seconds", 0.0), 3),
        })
    return pd.DataFrame(rows)


def write_metrics(run: RunDirectory, tasks: list[Task]) -> pd.DataFrame:
    table = metrics_table(collect_results(run, tasks))
    atomic_write_text(run.metrics, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    return table


# ---- progress ---------------------------------------------------------------------------------
def _epoch_text(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}"]
    if record.get("loss") == record.get("loss"):  # not NaN
        parts.append(f"loss {record['loss']:.4f}")
    if record.get("valid_auroc") == record.get("valid_auroc") and record.get("valid_auroc") is not None:
        parts.append(f"valid AUROC {record['valid_auroc']:.3f}")
    return ", ".join(parts)


def _batch_text(record: dict[str, Any]) -> str:
    return (
        f"epoch {record['epoch']}: {record['items']:,}/{record['total']:,} items, "
        f"{record['items_per_second']:,.0f} items/s, loss {record['loss']:.4f}"
    )


def _task_label(task: Task) -> str:
    return f"{task.model} {task.group} {task.fold}"


class PlainProgress:
    """One line per event on stderr: readable in a CI log (non-TTY)."""

    def __init__(self):
        self.total, self.finished = 0, 0

    def session(self, tasks: list[Task]):
        from contextlib import nullcontext

        self.total = len(tasks)
        return nullcontext()

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self, task: Task, skipped: bool = False, remote: bool = False) -> None:
        if skipped:
            self.log(f"[{task.key}] already done, skipped")
        elif not remote:
            self.log(f"[{task.key}] training")

    def epoch(self, task: Task, record: dict[str, Any]) -> None:
        self.log(f"[{task.key}] {_epoch_text(record)}")

    def batch(self, task: Task, record: dict[str, Any]) -> None:
        pass  # a line per batch would drown a CI log; the epochs say enough

    def finish(self, task: Task) -> None:
        self.finished += 1
        self.log(f"[{task.key}] finished ({self.finished}/{self.total})")


class QuietProgress(PlainProgress):
    """``--no-progress``: warnings only."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        pass

    def epoch(self, *args: Any, **kwargs: Any) -> None:
        pass

    def finish(self, task: Task) -> None:
        pass


class RichProgress(PlainProgress):
    """A live display on a terminal: all tasks, and the epochs of the running one."""

    def __init__(self, options: TrainOptions):
        super().__init__()
        self.options = options

    def session(self, tasks: list[Task]):
        from contextlib import contextmanager

        from epizoo import console

        @contextmanager
        def live():
            with console.progress(True) as bar:
                self.bar = bar
                self.overall = bar.add_task("models x folds", total=len(tasks), status="")
                self.current = None
                yield

        return live()

    def log(self, message: str) -> None:
        from epizoo import console

        console.stderr.print(message, markup=False, highlight=False)

    def start(self, task: Task, skipped: bool = False, remote: bool = False) -> None:
        if skipped or remote:
            return
        from epizoo.plugins import get_model
        from epizoo.training.trainer import resolve_recipe

        spec = get_model(task.model)
        epochs = 1 if spec.kind == "sklearn" else resolve_recipe(spec, self.options).epochs
        if self.current is not None:
            self.bar.remove_task(self.current)
        self.current = self.bar.add_task(_task_label(task), total=epochs, status="")

    def epoch(self, task: Task, record: dict[str, Any]) -> None:
        if self.current is not None:
            self.bar.update(self.current, advance=1, status=_epoch_text(record))

    def batch(self, task: Task, record: dict[str, Any]) -> None:
        if self.current is not None:
            self.bar.update(self.current, status=_batch_text(record))

    def finish(self, task: Task) -> None:
        self.bar.advance(self.overall)


def make_progress(enabled: bool, options: TrainOptions):
    """Rich on a terminal, plain lines otherwise, nearly silent with ``--no-progress``."""
    from epizoo import console

    if not enabled:
        return QuietProgress()
    return RichProgress(options) if console.stderr.is_terminal else PlainProgress()


# ---- executing --------------------------------------------------------------------------------
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
    """

    def __init__(self, config: BenchConfig, log: Callable[[str], None]):
        import logging

        from distributed import Client, LocalCluster

        self.cluster = None
        for name in ("distributed", "bokeh", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
        with _quiet_dask():
            if config.scheduler:
                try:
                    self.client = Client(config.scheduler, timeout=SCHEDULER_TIMEOUT)
                except (OSError, TimeoutError, ValueError) as exc:
                    reason = "did not answer" if isinstance(exc, (OSError, TimeoutError)) else f"is not a dask address ({exc})"
                    raise EpizooError(
                        f"no dask scheduler at {config.scheduler}: it {reason} within {SCHEDULER_TIMEOUT} s; "
                        "start one with `dask scheduler`, or use --workers N for a local cluster"
                    ) from None
            else:
                self.cluster = LocalCluster(
                    n_workers=config.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
        where = "local cluster of " + f"{config.workers} processes" if self.cluster is not None else f"scheduler {config.scheduler}"
        link = self.client.dashboard_link
        log(f"dask: {where}" + (f"; dashboard at {link}" if link else ""))

    def close(self) -> None:
        with _quiet_dask():
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


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
        futures = {client.submit(run_task, worker_config, task, key=f"epizoo-{task.key}-{os.getpid()}", pure=False): task for task in tasks}
        for task in tasks:
            progress.start(task, skipped=run.result(task) is not None, remote=True)
        for future in as_completed(futures):
            future.result()  # re-raises a task's error here, with its message
            progress.finish(futures[future])
            write_metrics(run, tasks)


def bench(config: BenchConfig, resume: bool = False, progress=None) -> pd.DataFrame:
    """Plan, check and run a benchmark into ``config.out``; return the metrics table."""
    from epizoo import open_store
    from epizoo.plugins import get_model, get_models
    from epizoo.training.loader import BALANCE_MODES
    from epizoo.training.trainer import resolve_device

    if config.balance not in BALANCE_MODES:
        raise EpizooError(f"unknown --balance {config.balance!r}; choose one of {', '.join(BALANCE_MODES)}")
    for option, value in (("--models", config.models), ("--cell-lines", config.cell_lines), ("--folds", config.folds)):
        if value is not None and not [name for name in ([value] if isinstance(value, str) else value) if str(name).strip()]:
            raise EpizooError(f"{option} names nothing; give names separated by commas, or leave the option out")
    if config.max_pairs is not None and config.max_pairs < 4:
        raise EpizooError(f"--max-pairs {config.max_pairs} cannot hold two training pairs of each class; give at least 4")
    config.models = list(get_models()) if config.models in (["all"], "all") else [get_model(m).name for m in config.models]
    if not config.models:
        raise EpizooError("no models are registered; install a model plugin or check the EPIZOO_PLUGINS variable")
    device = resolve_device(config.device)  # a bad --device fails before anything is written
    # Absolute paths, so that dask workers in another working directory read and write the same files.
    config.store, config.out = str(Path(config.store).resolve()), str(Path(config.out).resolve())
    ds = open_store(config.store)
    config.store_identity = f"{ds.attrs.get('created', '')} {ds.attrs.get('sequence_sha256', '')}"
    progress = progress or make_progress(config.progress, config.train_options())
    tasks, skipped, leakage = plan(ds, config, warn=progress.log)
    run = RunDirectory(config.out)
    _check_out(run.root)
    cluster = _Cluster(config, progress.log) if config.workers or config.scheduler else None
    try:
        run.open(config, resume)
        atomic_write_text(run.environment, json.dumps(environment(str(device), config.threads), indent=2) + "\n")
        atomic_write_text(run.leakage, json.dumps(leakage, indent=2, default=_json_default) + "\n")
        atomic_write_text(run.skipped, pd.DataFrame(skipped, columns=["cell_line", "train_cell_line", "fold", "reason"]).to_csv(sep="\t", index=False))
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


def _check_out(root: Path) -> None:
    """Refuse an --out that cannot be a run directory before a cluster starts or anything is written."""
    if root.exists() and not root.is_dir():
        raise RunDirectoryError(f"--out {root} is a file, not a folder; choose a new or empty folder for the run")
    parent = next((p for p in root.parents if p.exists()), None)
    if not root.exists() and parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise RunDirectoryError(f"cannot create the run directory {root}: {parent} is not a writable folder; choose another --out")


def _say_which_embedding(config: BenchConfig, progress) -> None:
    """Tell the user, before training, when embedding models must start from random vectors."""
    from epizoo.encoders import dna2vec_unavailable_reason, dna2vec_vectors
    from epizoo.plugins import get_model

    if any(get_model(name).uses_pretrained_embedding for name in config.models) and dna2vec_vectors() is None:
        progress.log(f"dna2vec vectors unavailable ({dna2vec_unavailable_reason()}); k-mer embedding models start from random vectors")


def default_command() -> str:
    return " ".join(["epizoo", *sys.argv[1:]]) if sys.argv else "epizoo bench"
