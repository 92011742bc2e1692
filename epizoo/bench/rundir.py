"""The run directory: its paths, the lock, the rules for starting or resuming a run (its identity is
its defining settings and the store's content, not paths), the environment record and metrics.tsv."""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from epizoo import __version__, contigs
from epizoo.bench.config import BenchConfig, Task, _defining, group_name, safe_name
from epizoo.bench.contact_tasks import diagonal_table, is_maps_record, maps_table
from epizoo.errors import EpizooError, InputFileError
from epizoo.files import write_text
from epizoo.jsontext import dumps
from epizoo.plugins import get_model, list_plugins
from epizoo.store.integrity import MANIFEST

LOCK_FILE = ".lock"
METRIC_COLUMNS = ("auroc", "aupr", "positive_rate", "aupr_ratio", "f1", "mcc", "precision", "recall", "n_pos", "n_neg")


class RunDirectoryError(EpizooError):
    """A run directory that holds another run, or is not a run."""



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
    provenance = property(lambda self: self.root / "provenance.json")
    lock = property(lambda self: self.root / LOCK_FILE)

    def task_dir(self, task: Task) -> Path:
        return self.root / "tasks" / task.key

    def predictions(self, task: Task, cell_line: str | None = None) -> Path:
        """The prediction table of ``task``; of one scored ``cell_line`` of a gen task."""
        group = task.group if cell_line is None else group_name(cell_line, task.train_cell_line, task.regime)
        return self.root / "predictions" / task.model / group / f"{safe_name(task.fold)}.tsv"

    def checkpoint(self, task: Task) -> Path:
        return self.root / "checkpoints" / task.key

    def find_checkpoint(self, model: str, cell_line: str | None = None, fold: str | None = None) -> Path:
        """The checkpoint folder of ``model`` on one cell line (``TRAIN-to-TEST`` for cross-cell-line
        runs) and fold of this finished run; ``cell_line`` or ``fold`` may be left out when the run
        has one. A name that matches nothing, or a choice left open, is one line naming the choices."""
        if not self.config.is_file():
            raise InputFileError(f"--run {self.root} is not an epizoo run directory (no config.json); give the -o folder of epizoo bench")
        root = self.root / "checkpoints"
        try:
            model = get_model(model).name  # an alias names the run's folder by its primary name
        except EpizooError:
            pass  # not installed: the folder may still be there, and loading it says what is missing
        model_dir = root / _pick("model", model, _subfolders(root), root, "--model")
        group_dir = model_dir / _pick("cell line", cell_line, _subfolders(model_dir), model_dir, "--cell-line")
        folds = sorted(_subfolders(group_dir), key=contigs.natural_text_key)
        same_fold = lambda a, b: a.lower() == b.lower() or contigs.same(a, b)  # noqa: E731: chr1, 1 and CHR1 name one fold
        return group_dir / _pick("fold", fold, folds, group_dir, "--fold", same_fold)

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
            write_text(self.config, dumps({"command": config.command, "config": asdict(config), "defining": config.defining()}, indent=2) + "\n")
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


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _pick(kind: str, wanted: str | None, found: list[str], where: Path, flag: str, same=None) -> str:
    """One of the folder names ``found`` under ``where``: the one ``wanted`` names, or the only one."""
    same = same or (lambda a, b: a.lower() == b.lower())
    if not found:
        raise InputFileError(f"{where} holds no {kind}; is the run finished, and the name right?")
    if wanted is None:
        if len(found) == 1:
            return found[0]
        raise EpizooError(f"the run has several {kind}s under {where} ({', '.join(found)}); choose one with {flag}")
    matches = [name for name in found if same(name, safe_name(wanted)) or same(name, wanted)]
    if not matches:
        raise InputFileError(f"{flag} {wanted}: no such {kind} under {where} (it has {', '.join(found)})")
    return matches[0]


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


def provenance(config: BenchConfig, skipped_models: dict[str, str]) -> dict[str, Any]:
    """What a paper needs to name beside the run's numbers, beyond environment.json: the store (path,
    identity, the sha256 of its manifest, which hashes every file it holds), the plugins and their
    versions, and the models ``--models all`` left out with the reason."""
    import hashlib

    manifest = Path(config.store) / MANIFEST
    return {
        "command": config.command,
        "store": {
            "path": config.store, "identity": config.store_identity,
            "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None,
        },
        "plugins": {row["name"]: row["version"] for row in list_plugins()},
        "skipped_models": [{"model": name, "reason": reason} for name, reason in skipped_models.items()],
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_results(run: RunDirectory, tasks: list[Task]) -> list[dict[str, Any]]:
    """The recorded results of the finished tasks, in plan order: a gen task gives one per cell line it scored."""
    records = []
    for record in map(run.result, tasks):
        if record is not None:
            records += record.get("rows") or [record]
    return records


def metrics_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    # A run with regimes other than specific has a regime column (and fine_tuned: False for a best
    # row that refitted a scikit-learn model instead); a specific run's table is unchanged.
    regimes = any(r.get("regime", "specific") != "specific" for r in results)
    rows = []
    for r in results:
        training = r["training"]
        regime = {"regime": r.get("regime", "specific")} if regimes else {}
        rows.append({
            "model": r["model"], "cell_line": r["cell_line"], "train_cell_line": r["train_cell_line"], "fold": r["fold"], **regime,
            **{name: r["metrics"].get(name, np.nan) for name in METRIC_COLUMNS},
            **{name: value for name, value in r["metrics"].items() if name not in METRIC_COLUMNS},
            "best_epoch": training.get("best_epoch"), "epochs_run": training.get("epochs_run"),
            "stopped_by": training.get("stopped_by"), "max_epochs": (training.get("recipe") or {}).get("epochs"),
            "n_train_pairs": training.get("n_train_pairs"),
            "n_train_items": training.get("n_train_items"), "items_seen": items_seen(r),
            "unscored_test_pairs": (training.get("pairs_without_signals") or {}).get("test", 0),
            "embedding_source": training.get("embedding_source") or "",
            **({"fine_tuned": training.get("fine_tuned", "")} if regimes else {}),
            "seconds": round(r.get("seconds", 0.0), 3), "cpu_seconds": round(r.get("cpu_seconds", 0.0), 3),
        })
    return pd.DataFrame(rows)


def items_seen(result: dict[str, Any]) -> int | None:
    """Training items a task went through, over all its epochs: the part of its budget it used.

    A torch epoch records its ``items`` (shifted copies included, cut short by a wall-clock
    budget); a scikit-learn model is fitted once on its training pairs.
    """
    training = result.get("training") or {}
    if training.get("items_seen") is not None:  # recorded by the trainer (a gen row has no history of its own)
        return int(training["items_seen"])
    history = result.get("history") or []
    counted = [epoch.get("items") for epoch in history if isinstance(epoch, dict) and epoch.get("items") is not None]
    if counted:
        return int(sum(counted))
    return training.get("n_train_pairs")


def write_metrics(run: RunDirectory, tasks: list[Task]) -> pd.DataFrame:
    """metrics.tsv from the finished tasks; a maps benchmark's also writes diagonal.tsv (its curves)."""
    results = collect_results(run, tasks)
    if results and all(map(is_maps_record, results)):
        table = maps_table(results)
        write_text(run.root / "diagonal.tsv", diagonal_table(results).to_csv(sep="\t", index=False, float_format="%.6g"))
    else:
        table = metrics_table(results)
    write_text(run.metrics, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    return table


def _check_out(root: Path) -> None:
    """Refuse an --out that cannot be a run directory before a cluster starts or anything is written."""
    if root.exists() and not root.is_dir():
        raise RunDirectoryError(f"--out {root} is a file, not a folder; choose a new or empty folder for the run")
    parent = next((p for p in root.parents if p.exists()), None)
    if not root.exists() and parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise RunDirectoryError(f"cannot create the run directory {root}: {parent} is not a writable folder; choose another --out")
