"""How the bench treats each kind of model, decided once per model by :func:`kind_of`.

A *pair* model trains on a fold's pairs (:func:`epizoo.training.train_fold`). A *contact-map* model
(``task="contact-map"``, e.g. ChromNet) trains on the windows of the store's genome layer and is
scored on held-out maps, or on the fold's pairs by predicted contact
(:mod:`epizoo.bench.contact_tasks`). Everything the two kinds do differently in planning, checking
and training is a method here, so the rest of the bench never asks which kind it holds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from epizoo.bench.config import BenchConfig, Task
from epizoo.bench.contact_tasks import pair_skip_reason, train_contact_task
from epizoo.bench.rundir import RunDirectory
from epizoo.checkpoint import load_checkpoint
from epizoo.contact.windows import as_genome
from epizoo.errors import EpizooError, UnknownNameError
from epizoo.plugins import get_model
from epizoo.training.trainer import Sides, train_fold
from epizoo.zoo import ModelSpec

# Options that shape the training of pair models only: a contact-map model has no demo size and
# trains on windows, not class-balanced pairs.
PAIR_ONLY_OPTIONS = {"demo": ("--demo", True), "balance": ("--balance", "augment")}


class PairModels:
    """Models that score a pair from its sequences, signals or distance."""

    name = "pair"

    def store_needs(self, spec: ModelSpec) -> set[str]:
        """The store layers the model reads."""
        return set(spec.inputs)

    def regime_problem(self, regimes: list[str]) -> str | None:
        """Why the model cannot run these regimes (None: it can)."""
        return None

    def takes_pair_options(self) -> bool:
        """Whether --demo and --balance apply to it."""
        return True

    def skip_reason(self, ds: Any, task: Task) -> str | None:
        """Why a planned task of this kind cannot run (None: it can)."""
        return None

    def train(self, spec: ModelSpec, config: BenchConfig, task: Task, options: Any, run: RunDirectory,
              on_epoch: Callable | None, on_batch: Callable | None) -> Any:
        """Train on the fold's pairs and score its test side: a :class:`~epizoo.training.TrainResult`."""
        if task.regime == "gen":  # the caps (--max-pairs, --tiny, --demo) hold per pooled cell line
            options = replace(options, pooled_cell_lines=max(1, len(task.info.get("cell_lines") or [])))
        initial_state = _starting_weights(run, task, spec)
        result = train_fold(spec, config.store, Sides(task.train, task.valid, task.test), options, on_epoch, on_batch,
                            initial_state=initial_state)
        if task.regime == "best":
            result.summary.update(fine_tuned=initial_state is not None, starts_from=task.after)
        return result

    def checkpoint_fields(self, spec: ModelSpec, result: Any) -> dict[str, Any]:
        """What the kind adds to the checkpoint's description."""
        return {}


class ContactMapModels(PairModels):
    """Models that predict a window's contact map from the genome layer."""

    name = "contact-map"

    def store_needs(self, spec: ModelSpec) -> set[str]:
        return {"pairs", "genome"}

    def regime_problem(self, regimes: list[str]) -> str | None:
        return None if regimes == ["specific"] else "the specific regime only (no --regime gen or best)"

    def takes_pair_options(self) -> bool:
        return False

    def skip_reason(self, ds: Any, task: Task) -> str | None:
        return pair_skip_reason(ds, as_genome(ds), get_model(task.model), task)

    def train(self, spec: ModelSpec, config, task, options, run, on_epoch, on_batch):
        return train_contact_task(spec, config, task, options.device, on_epoch)

    def checkpoint_fields(self, spec: ModelSpec, result):
        return {"task": spec.task, "contact_training": result.summary["contact_training"]}


PAIRS, CONTACT_MAPS = PairModels(), ContactMapModels()


def kind_of(model: ModelSpec | str) -> PairModels:
    """The kind of a model (its spec, or its registered name; an unknown name is a pair model here and
    is refused where it is built)."""
    if isinstance(model, str):
        try:
            model = get_model(model)
        except UnknownNameError:
            return PAIRS
    return CONTACT_MAPS if model.is_contact_map else PAIRS


def _starting_weights(run: RunDirectory, task: Task, spec: ModelSpec) -> dict | None:
    """A best task's start: its fold's finished gen checkpoint (None for others, and for
    scikit-learn models, which refit on the cell line's training side instead)."""
    if task.regime != "best" or spec.kind == "sklearn":
        return None
    if not (run.root / "tasks" / task.after / "done").is_file():
        raise EpizooError(f"{task.key} starts from the gen model {task.after}, which has not finished; run or resume the gen regime first")
    _, state = load_checkpoint(run.root / "checkpoints" / task.after)
    return state
