"""Contact-map models (``task="contact-map"``, e.g. ChromNet) in ``epizoo bench``.

A contact-map model trains on a store's genome layer (:mod:`epizoo.contact.train`), never on
pair windows. The bench runs it in one of two ways:

* **Maps** (every named model is a contact-map model): the benchmark ChromNet's authors report. Each
  task trains on the training contigs' windows and scores the test contigs' maps, beside the
  distance-decay baseline fitted on the same training maps: Pearson per window, per diagonal
  distance, of insulation scores, and MSE (:mod:`epizoo.contact.metrics`).

  * ``--split chromosome``: one task per model; options ``train=``, ``valid=``, ``test=`` (contigs;
    by default upstream's chr1-16 / chr17-19 / chr20-22, or on a small genome the last contig test
    and the one before validation). It trains on the selected cell lines (``--cell-lines``; every one
    with the model's tracks by default) and scores each of them that has maps.
  * ``--split cross-cell-line``: one task per model and cell line with maps: train on the other
    selected cell lines, score that one's test-contig maps from its own tracks. The test contigs are
    held out too, so the model never saw the test sequence either.

* **Pairs** (beside pair models, ``--models all`` on a store with pairs and a genome layer): on each
  fold of the pair split, the model trains on every genome-layer contig that holds none of the
  fold's test pairs (and none of its validation pairs when those lie on their own contigs, which
  then validate), with the fold's training cell line(s); then it scores the test pairs by their
  predicted contact (:mod:`epizoo.contact.pairs`). A test pair it cannot see (farther apart than a
  window, near a contig end) is ranked below every pair it can, so that each model is scored on the
  same pairs; the result counts those pairs. A fold whose test pairs touch every contig (the
  ``random`` split) leaves nothing to train on and is skipped with its reason.

``--tiny`` and ``--epochs``, ``--batch-size``, ``--lr``, ``--budget``, ``--seed``, ``--device`` and
``--threads`` mean what they mean for pair models; ``--max-pairs`` caps the windows per side.
``--precision bf16`` trains and scores under bf16 autocast; ``fp32`` and ``auto`` in float32.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from epizoo.bench.config import BenchConfig, Task
from epizoo.checkpoint import checkpoint_model_fields
from epizoo.contact.pairs import contact_pair_result, has_tracks
from epizoo.contact.train import ContactOptions, train_contact_model
from epizoo.contact.windows import as_genome, chromosome_split
from epizoo.errors import EmptyResultError, EpizooError
from epizoo.plugins import get_model
from epizoo.store.io import open_store
from epizoo.training.trainer import TrainResult
from epizoo.zoo import ModelSpec

MAP_SPLITS = ("chromosome", "cross-cell-line")
MAP_METRICS = ("map_pearson", "diagonal_pearson", "insulation_pearson", "mse", "n_windows")
BASELINE = "distance-decay"
EMPTY = np.empty(0, dtype=np.int64)


# ---- planning -----------------------------------------------------------------------------------
def plan_maps(ds: Any, config: BenchConfig) -> list[Task]:
    """The tasks of a maps benchmark (see the module)."""
    if config.split not in MAP_SPLITS:
        raise EpizooError(
            f"contact-map models are benchmarked on maps with --split {' or --split '.join(MAP_SPLITS)}, not {config.split}; "
            "or name pair models beside them to rank all on the store's pairs"
        )
    if config.folds:
        raise EpizooError("a maps benchmark has one fold; choose its contigs with --split-option test=CHR,.. instead of --folds")
    unknown = sorted(set(config.split_options) - {"train", "valid", "test"})
    if unknown:
        raise EpizooError(f"--split-option {', '.join(unknown)}: a maps benchmark takes train=, valid= and test= (contigs)")
    genome = as_genome(ds)
    contigs = [str(c) for c in genome.genome_contigs()]
    sides = chromosome_split(contigs, config.split_options)
    tasks = []
    for model in config.models:
        spec = get_model(model)
        cells, mapped = _map_cells(genome, spec, config.cell_lines)
        fold = "+".join(sides["test"])
        if config.split == "chromosome":
            info = {"split": sides, "train_cell_lines": cells, "test_cell_lines": mapped}
            tasks.append(Task(model, "+".join(mapped), "+".join(cells), fold, EMPTY, EMPTY, EMPTY, {"contact": info}))
            continue
        for test in mapped:
            train = [cell for cell in cells if cell != test]
            if not set(train) & set(mapped):
                raise EmptyResultError(f"cross-cell-line: without {test}, no training cell line has a contact map")
            info = {"split": sides, "train_cell_lines": train, "test_cell_lines": [test]}
            tasks.append(Task(model, test, "+".join(train), fold, EMPTY, EMPTY, EMPTY, {"contact": info}))
    return tasks


def _map_cells(genome: Any, spec: ModelSpec, wanted: list[str] | None) -> tuple[list[str], list[str]]:
    """(cell lines with every track the model reads, those of them with contact maps), after --cell-lines."""
    with_tracks = sorted({str(cell) for cell, _ in genome.track_names()})
    if wanted:
        lookup = {name.lower(): name for name in with_tracks}
        unknown = [name for name in wanted if name.lower() not in lookup]
        if unknown:
            raise EmptyResultError(f"--cell-lines: {', '.join(unknown)} has no tracks in the genome layer; it has {', '.join(with_tracks)}")
        with_tracks = [lookup[name.lower()] for name in wanted]
    cells = [cell for cell in with_tracks if has_tracks(genome, spec, cell)]
    mapped = [cell for cell in cells if cell in {str(c) for c in genome.contact_cell_lines()}]
    if not mapped:
        raise EmptyResultError(f"{spec.name}: none of the cell lines {', '.join(cells) or '(none)'} has both its tracks and a contact map")
    return cells, mapped


def pair_fold_contigs(ds: Any, genome_contigs: list[str], task: Task) -> dict[str, list[str]] | str:
    """The contigs a contact model trains, validates and tests on for a pair fold, or why it cannot."""
    names = np.array([str(name) for name in ds["contig_id"].values], dtype=object)
    contig = np.asarray(ds["pair_contig"].values)
    test = set(names[contig[task.test]])
    train_pairs = set(names[contig[task.train]])
    valid = sorted(set(names[contig[task.valid]]) - test - train_pairs)
    train = [c for c in genome_contigs if c not in test and c not in valid]
    if not train:
        return "the fold's test pairs lie on every contig of the genome layer; a contact-map model trains on whole contigs"
    return {"train": train, "valid": [c for c in genome_contigs if c in valid], "test": [c for c in genome_contigs if c in test]}


def pair_skip_reason(ds: Any, genome: Any, spec: ModelSpec, task: Task) -> str | None:
    """Why a contact model cannot run on a pair task, or None."""
    sides = pair_fold_contigs(ds, [str(c) for c in genome.genome_contigs()], task)
    if isinstance(sides, str):
        return sides
    maps = {str(c) for c in genome.contact_cell_lines()}
    train = task.train_cell_line.split("+")
    if not set(train) & maps:
        return f"no training cell line ({', '.join(train)}) has a contact map in the genome layer"
    lacking = [c for c in {*train, task.cell_line} if not has_tracks(genome, spec, c)]
    if lacking:
        return f"the genome layer lacks {'/'.join(spec.tracks)} tracks of {', '.join(sorted(lacking))}"
    return None


# ---- running ------------------------------------------------------------------------------------
def contact_options(config: BenchConfig, info: dict[str, Any], device: str):
    return ContactOptions(
        tiny=config.tiny, epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.lr,
        split=info["split"], cell_lines=list(info["train_cell_lines"]), test_cell_lines=list(info["test_cell_lines"]),
        max_windows=config.max_pairs, seed=config.seed, device=device, precision=config.precision, threads=config.threads,
        budget_seconds=config.budget * 60 if config.budget else None,
    )


def _epoch_adapter(on_epoch: Callable[[dict], None] | None) -> Callable[[dict], None] | None:
    """The bench's progress shows ``loss``; a contact epoch has ``train_loss``."""
    if on_epoch is None:
        return None
    return lambda record: on_epoch({**record, "loss": record["train_loss"]})


def train_contact_task(spec: ModelSpec, config: BenchConfig, task: Task, device: str, on_epoch=None):
    """Train a contact model for ``task`` and score it: the test maps (a maps task) or the test pairs.

    Returns a :class:`~epizoo.training.trainer.TrainResult` (no pairs for a maps task) whose summary
    carries the contact training, the map metrics of the model and the baseline, and the curves."""
    ds = open_store(config.store)
    info = task.info.get("contact") or _pair_task_info(ds, spec, task)
    result = train_contact_model(spec, ds, contact_options(config, info, device), on_epoch=_epoch_adapter(on_epoch))
    summary = {
        "hparams": result.summary["hparams"], "recipe": _recipe(spec), "contact_training": result.summary,
        "precision": result.summary["precision"],
        "epochs_run": result.summary["epochs_run"], "stopped_by": result.summary["stopped_by"],
        "best_epoch": _best_epoch(result.history), "n_train_items": result.summary["windows"]["train"],
        "contact_metrics": {"model": result.metrics, "baseline": result.baseline, "diagonal_pearson": result.diagonal},
    }
    # the bench sums its tasks' epoch seconds; a contact epoch records the time since training began
    elapsed = [0.0] + [record["seconds"] for record in result.history]
    history = [{**record, "loss": record["train_loss"], "seconds": elapsed[i + 1] - elapsed[i]} for i, record in enumerate(result.history)]
    if is_maps_task(task):
        return TrainResult(EMPTY, np.empty(0, np.float32), np.empty(0, np.float32), history, summary, result.state_dict)
    pairs, labels, scores, unseen = _score_pairs(spec, ds, task, result)
    summary["unscored_pairs"] = unseen
    return TrainResult(pairs, labels, scores, history, summary, result.state_dict)


def _pair_task_info(ds: Any, spec: ModelSpec, task: Task) -> dict[str, Any]:
    genome = as_genome(ds)
    sides = pair_fold_contigs(ds, [str(c) for c in genome.genome_contigs()], task)
    if isinstance(sides, str):
        raise EmptyResultError(sides)
    maps = {str(c) for c in genome.contact_cell_lines()}
    tested = [task.cell_line] if task.cell_line in maps else [c for c in task.train_cell_line.split("+") if c in maps]
    return {"split": sides, "train_cell_lines": task.train_cell_line.split("+"), "test_cell_lines": tested}


def _score_pairs(spec: ModelSpec, ds: Any, task: Task, result) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The test pairs' predicted contacts; those the model cannot see ranked below every other."""
    model = spec.factory(**result.summary["hparams"])
    model.load_state_dict(result.state_dict)
    # what train-contacts records in checkpoint.json, so the pairs are scored as a saved checkpoint's are
    description = {**checkpoint_model_fields(spec, result.summary["hparams"]), "contact_training": result.summary}
    pairs = np.sort(np.asarray(task.test, dtype=np.int64))
    scored = contact_pair_result(model, spec, description, ds, pairs)
    scores = scored.scores.copy()
    unseen = ~np.isfinite(scores)
    floor = float(np.nanmin(scores)) - 1.0 if (~unseen).any() else 0.0
    scores[unseen] = floor
    labels = ds["pair_label"].values[pairs].astype(np.float32)
    return pairs, labels, scores.astype(np.float32), {"count": int(unseen.sum()), "note": scored.note(), "windows": scored.windows}


def _recipe(spec: ModelSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec.recipe)


def _best_epoch(history: list[dict[str, Any]]) -> int | None:
    scores = [r["valid_mse"] if math.isfinite(r["valid_mse"]) else r["train_mse"] for r in history]
    return int(np.argmin(scores)) + 1 if scores else None


# ---- the maps table -----------------------------------------------------------------------------
def maps_table(results: list[dict[str, Any]]):
    """metrics.tsv of a maps run: one row for each model and task, and one for its baseline."""
    import pandas as pd

    rows = []
    for r in results:
        contact = r["training"]["contact_metrics"]
        base = {"cell_line": r["cell_line"], "train_cell_line": r["train_cell_line"], "fold": r["fold"]}
        rows.append({"model": r["model"], **base, **{m: contact["model"].get(m) for m in MAP_METRICS},
                     "epochs_run": r["training"].get("epochs_run"), "stopped_by": r["training"].get("stopped_by"),
                     "seconds": round(r.get("seconds", 0.0), 3)})
        rows.append({"model": f"{BASELINE} ({r['model']})", **base, **{m: contact["baseline"].get(m) for m in MAP_METRICS},
                     "epochs_run": None, "stopped_by": "fitted", "seconds": 0.0})
    return pd.DataFrame(rows)


def diagonal_table(results: list[dict[str, Any]]):
    """Per task, the mean correlation along each diagonal distance (in output bins), model and baseline."""
    import pandas as pd

    rows = []
    for r in results:
        curves = r["training"]["contact_metrics"]["diagonal_pearson"]
        for who, curve in (("model", curves["model"]), ("baseline", curves["baseline"])):
            name = r["model"] if who == "model" else f"{BASELINE} ({r['model']})"
            rows += [{"model": name, "cell_line": r["cell_line"], "fold": r["fold"], "diagonal": d, "pearson": value}
                     for d, value in enumerate(curve)]
    return pd.DataFrame(rows)


def is_maps_task(task: Task) -> bool:
    """A task of a maps benchmark (it scores maps, not pairs)."""
    return "contact" in task.info


def is_maps_record(record: dict[str, Any]) -> bool:
    return "contact" in (record.get("fold_info") or {})
