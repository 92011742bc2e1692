"""Train one model on one fold with its reference recipe, then score the fold's test side.

Model selection uses the validation side only: after every epoch the validation AUROC is
measured and the best weights are kept; early stopping counts epochs without improvement. The
test side is touched once, by the kept weights. Torch models train with BCE-with-logits in fp32
on CPU; on CUDA in fp32 or bf16 autocast, whichever a short timed probe finds faster for the model
(epizoo.training.probe), unless ``precision`` says which; scikit-learn models fit their features
on the (unaugmented) training side.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
import zarr

from epizoo.devices import resolve_device, resolve_precision
from epizoo.errors import EmptyResultError, EpizooError
from epizoo.metrics import auroc, best_f1_threshold
from epizoo.model_inputs import fill_store_hparams, measured_pairs, sklearn_features, model_loss, sklearn_probabilities, torch_logits
from epizoo.nn import set_kmer_conv_auto
from epizoo.plugins import get_encoder
from epizoo.training.embedding import starting_vectors
from epizoo.training.loader import (
    BALANCE_MODES,
    PairBatches,
    balanced_items,
    make_loader,
    plain_items,
    to_device,
    training_items,
)
from epizoo.training.probe import choose
from epizoo.zoo import ModelSpec, TrainingRecipe

TINY_EPOCHS = 2
TINY_BATCH = 32
TINY_SHIFTS = 4  # the first published shifts around the centre; enough to exercise augmentation
# --tiny also caps the training and validation pairs (stratified) unless --max-pairs is given, so
# a smoke run of the whole zoo stays in minutes; the test side is never capped.
TINY_TRAIN_PAIRS = 256
TINY_VALID_PAIRS = 256
# --demo: a run of every model that fits a CPU in minutes, at one budget for all: the same 2,500
# training pairs (stratified, seeded) for 3 epochs, and no shifted copies, as the demo windows
# cover only the centre of an element (where the synthetic grammar plants its motifs). Validation
# is capped, evaluation runs in large batches (eval mode, so the batch size does not change a
# score). A spec's demo_recipe may change other recipe fields (a learning rate), never the budget.
DEMO_RECIPE = {"epochs": 3, "augmentation_shifts": 0, "max_train_pairs": 2500}
DEMO_VALID_PAIRS = 400
DEMO_EVAL_BATCH = 256


@dataclass(frozen=True)
class TrainOptions:
    """What a user may change about training; None keeps the model's recipe."""

    tiny: bool = False
    demo: bool = False  # the models' demo size and demo recipe (see ModelSpec.demo_hparams)
    epochs: int | None = None
    batch_size: int | None = None
    max_pairs: int | None = None
    budget_minutes: float | None = None  # wall-clock minutes per task
    lr: float | None = None  # overrides the recipe's learning rate
    precision: str = "auto"  # 'fp32', 'bf16' (autocast), or 'auto': fp32 on CPU, the faster of a timed probe on CUDA
    balance: str = "augment"
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    num_workers: int = 0
    # A training side pooled from this many cell lines (the gen regime): each brings its own cap of
    # training and validation pairs, so gen and specific differ in what they pool, not in how much.
    pooled_cell_lines: int = 1


@dataclass
class Sides:
    """Global pair indices of a fold's three sides."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


@dataclass
class TrainResult:
    test_pairs: np.ndarray
    test_labels: np.ndarray
    test_scores: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # recipe used, sizes, stop reason ...
    state: dict[str, torch.Tensor] | None = None
    estimator: Any = None


EpochCallback = Callable[[dict[str, float]], None]
BatchCallback = Callable[[dict[str, float]], None]
REPORT_SECONDS = 0.5  # on a GPU, batch reports (each a host sync) at most this often


# ---- resolving what is used ------------------------------------------------------------------
def resolve_recipe(spec: ModelSpec, options: TrainOptions) -> TrainingRecipe:
    recipe = spec.recipe
    if options.tiny and options.demo:
        raise EpizooError("--tiny and --demo are two sizes; give one of them")
    if options.demo:
        recipe = replace(recipe, **{**spec.demo_recipe, **DEMO_RECIPE})
    if options.tiny:
        recipe = replace(
            recipe,
            epochs=min(recipe.epochs, TINY_EPOCHS),
            batch_size=min(recipe.batch_size, TINY_BATCH),
            augmentation_shifts=min(recipe.augmentation_shifts, TINY_SHIFTS),
        )
    if options.balance != "augment":
        recipe = replace(recipe, augmentation_shifts=0)
    if options.epochs is not None:
        recipe = replace(recipe, epochs=options.epochs)
    if options.batch_size is not None:
        recipe = replace(recipe, batch_size=options.batch_size)
    if options.lr is not None:
        recipe = replace(recipe, learning_rate=options.lr)
    if recipe.epochs < 1 or recipe.batch_size < 1:
        raise EpizooError("--epochs and --batch-size must be at least 1")
    if not recipe.learning_rate > 0:
        raise EpizooError(f"the learning rate must be above 0, got {recipe.learning_rate}")
    return recipe


def _stratified_sample(pairs: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``min(size, len(pairs))`` pairs keeping the class ratio.

    Each class present keeps at least two pairs when ``size`` has room for two of each (one when
    it has room for one of each), so a capped side can still be trained and scored on both classes.
    """
    size = min(int(size), pairs.size)
    negatives, positives = pairs[labels == 0], pairs[labels == 1]
    n0, n1 = negatives.size, positives.size
    wanted = round(size * n1 / max(pairs.size, 1))
    floor = 2 if size >= 4 else 1 if size >= 2 else 0
    low = max(min(floor, n1), size - n0)
    high = min(n1, size - min(floor, n0))
    take_positive = int(np.clip(wanted, low, high)) if low <= high else int(np.clip(wanted, max(0, size - n0), min(n1, size)))
    chosen = [
        rng.choice(negatives, size=size - take_positive, replace=False),
        rng.choice(positives, size=take_positive, replace=False),
    ]
    return np.sort(np.concatenate(chosen))


def prepare_sides(sides: Sides, labels: np.ndarray, recipe: TrainingRecipe, options: TrainOptions) -> Sides:
    """Carve validation from training when the split gave none, then cap the training pairs."""
    rng = np.random.default_rng([options.seed, 11])
    train = np.setdiff1d(sides.train, sides.valid)
    valid = np.sort(sides.valid)
    if valid.size == 0 and train.size > 1 and recipe.validation_fraction > 0:
        valid = _stratified_sample(train, labels[train], max(1, round(recipe.validation_fraction * train.size)), rng)
        train = np.setdiff1d(train, valid)
    max_pairs = options.max_pairs if options.max_pairs is not None else (TINY_TRAIN_PAIRS if options.tiny else recipe.max_train_pairs)
    if max_pairs is not None:
        max_pairs *= options.pooled_cell_lines
    if max_pairs is not None and train.size > max_pairs:
        train = _stratified_sample(train, labels[train], max_pairs, rng)
    max_valid = TINY_VALID_PAIRS if options.tiny else DEMO_VALID_PAIRS if options.demo else None
    if max_valid is not None:
        max_valid *= options.pooled_cell_lines
    if max_valid is not None and valid.size > max_valid:
        valid = _stratified_sample(valid, labels[valid], max_valid, rng)
    if train.size == 0:
        raise EmptyResultError("the training side of this fold is empty; choose another split or cell line")
    return Sides(train, valid, np.sort(sides.test))


# ---- shared pieces ----------------------------------------------------------------------------
def _lengths(hparams: dict[str, Any]) -> tuple[int, int]:
    return int(hparams["enhancer_length"]), int(hparams["promoter_length"])


def _batches(store: str, pairs: np.ndarray, batch_size: int, hparams: dict, options: TrainOptions, device: torch.device,
             inputs: tuple[str, ...] = ("sequence",)):
    dataset = PairBatches(store, plain_items(pairs), batch_size, *_lengths(hparams), seed=options.seed, inputs=inputs)
    return make_loader(dataset, options.num_workers, device)


def make_optimizer(recipe: TrainingRecipe, parameters, device: torch.device | None = None) -> torch.optim.Optimizer:
    """The recipe's optimizer; on CUDA its fused (Adam) or multi-tensor variant, which launch a few
    kernels per step instead of several per parameter (the same update)."""
    kinds = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}
    if recipe.optimizer not in kinds:
        raise EpizooError(f"unknown optimizer {recipe.optimizer!r} in the recipe; use one of {', '.join(kinds)}")
    eps = {} if recipe.optimizer == "sgd" else {"eps": recipe.epsilon}
    arguments = {"lr": recipe.learning_rate, "weight_decay": recipe.weight_decay, **eps}
    parameters = list(parameters)  # a generator would be spent by an attempt that fails
    faster = [{"fused": True}, {"foreach": True}] if recipe.optimizer == "adam" else [{"foreach": True}]
    for variant in faster if device is not None and torch.device(device).type == "cuda" else []:
        try:
            return kinds[recipe.optimizer](parameters, **arguments, **variant)
        except (TypeError, RuntimeError):  # a torch without it, or parameters its kernel does not take
            continue
    return kinds[recipe.optimizer](parameters, **arguments)


def _public_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in hparams.items() if key != "pretrained_embedding"}


# ---- torch models -----------------------------------------------------------------------------
class _TorchRun:
    """State of one torch training run: model, encoder, device and the clock of the budget."""

    def __init__(self, spec: ModelSpec, store: str, hparams: dict, options: TrainOptions, device: torch.device):
        self.spec, self.store, self.hparams, self.options, self.device = spec, store, hparams, options, device
        # a model of signals alone reads no sequence, so it needs no encoder
        self.encode = get_encoder(spec.input_encoding).function if "sequence" in spec.inputs else None
        self.model = spec.factory(**hparams).to(device)
        self.precision = resolve_precision(options.precision, device)
        self.kmer_conv_path, self.probe = None, None  # set by settle()
        if device.type == "cuda":  # a task's shapes repeat: autotuned conv algorithms pay off after a step or two
            torch.backends.cudnn.benchmark = True

    def settle(self, pairs: np.ndarray, recipe: TrainingRecipe, pos_weight: torch.Tensor | None) -> None:
        """Fix what ``auto`` means (k-mer conv path, precision): the CPU rules, or on CUDA the fastest
        of a few timed training steps on a copy of the model (epizoo.training.probe)."""
        started = time.monotonic()
        steps = _ProbeSteps(self, pairs, recipe, pos_weight) if pairs.size >= 2 else None  # BatchNorm needs 2
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the probe's dropout draws leave training's stream as it was
            choice = choose(self.model, self.device, self.options.precision, self.precision, steps)
        set_kmer_conv_auto(self.model, choice["kmer_conv_path"])
        self.kmer_conv_path, self.precision, self.probe = choice["kmer_conv_path"], choice["precision"], choice["probe"]
        if self.probe is not None:
            self.probe["seconds"] = round(time.monotonic() - started, 3)

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return torch_logits(self.model, self.spec, batch, self.encode)

    def loss(self, batch: dict[str, torch.Tensor], pos_weight: torch.Tensor | None) -> torch.Tensor:
        """BCE with logits, or the model's own ``training_loss`` (multi-task losses, noise copies)."""
        if not hasattr(self.model, "training_loss"):
            return F.binary_cross_entropy_with_logits(self.logits(batch), batch["label"], pos_weight=pos_weight)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return model_loss(self.model, self.spec, batch, self.encode).float()

    @torch.no_grad()
    def predict(self, pairs: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pairs, labels, probabilities) in pair order."""
        self.model.eval()
        out_pairs, out_labels, out_scores = [], [], []
        for batch in _batches(self.store, pairs, batch_size, self.hparams, self.options, self.device, self.spec.inputs):
            batch = to_device(batch, self.device)
            out_scores.append(torch.sigmoid(self.logits(batch)).cpu().numpy())
            out_labels.append(batch["label"].cpu().numpy())
            out_pairs.append(batch["pair"].cpu().numpy())
        if not out_pairs:
            return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32)
        pairs_, labels_, scores_ = (np.concatenate(x) for x in (out_pairs, out_labels, out_scores))
        order = np.argsort(pairs_, kind="stable")
        return pairs_[order], labels_[order], scores_[order]


class _ProbeSteps:
    """The probe's step timer: one synchronised training step of a copy of the run's model, on the
    first batch of the training side, with a given k-mer conv path and precision."""

    def __init__(self, run: _TorchRun, pairs: np.ndarray, recipe: TrainingRecipe, pos_weight: torch.Tensor | None):
        self.run, self.pairs, self.recipe, self.pos_weight = run, pairs, recipe, pos_weight
        self.copy: _TorchRun | None = None

    def _setup(self) -> None:
        """Made at the first step only, so a task with nothing to probe copies and loads nothing."""
        run = self.run
        self.copy = copy.copy(run)
        self.copy.model = copy.deepcopy(run.model).train()  # the weights to be trained stay untouched
        self.optimizer = make_optimizer(self.recipe, self.copy.model.parameters(), device=run.device)
        pairs = self.pairs[: self.recipe.batch_size]
        batch = next(iter(_batches(run.store, pairs, self.recipe.batch_size, run.hparams, run.options, run.device, run.spec.inputs)))
        self.batch = to_device(batch, run.device)

    def __call__(self, path: str | None, precision: str) -> float:
        if self.copy is None:
            self._setup()
        set_kmer_conv_auto(self.copy.model, path)
        self.copy.precision = precision
        _synchronize(self.run.device)
        started = time.perf_counter()
        _train_step(self.copy, self.batch, self.pos_weight, self.optimizer)
        _synchronize(self.run.device)
        return time.perf_counter() - started


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(run: _TorchRun, batch: dict[str, torch.Tensor], pos_weight, optimizer) -> torch.Tensor:
    """One optimizer step; returns the (detached, still on the device) loss."""
    loss = run.loss(batch, pos_weight)
    if hasattr(run.model, "regularization_loss"):
        loss = loss + run.model.regularization_loss()  # the L2 terms of SPEID/SIMCNN's Keras layers
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _validation_key(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Higher is better: validation AUROC, and the log-loss as a tie-breaker / fallback."""
    if labels.size == 0:
        return (math.nan, math.nan)
    clipped = np.clip(scores.astype(np.float64), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))
    return (auroc(labels, scores), loss)


def _better(candidate: tuple[float, float], best: tuple[float, float] | None, monitor: str = "auroc") -> bool:
    """Is ``candidate`` (validation AUROC, log-loss) an improvement on ``best`` for ``monitor``?"""
    if best is None:
        return True
    auc, loss = candidate
    if monitor == "auroc" and not math.isnan(auc) and not math.isnan(best[0]):
        return auc > best[0] or (auc == best[0] and loss < best[1])
    return not math.isnan(loss) and (math.isnan(best[1]) or loss < best[1])


class _BatchMeter:
    """Running loss and items/s within an epoch, reported after every batch (on a GPU at most every
    ``report_seconds``).

    Losses stay on the device until a report or every ``sync_every`` batches: reading one back
    waits for the GPU to finish, and a wait per batch would stop the host from queueing ahead."""

    def __init__(self, epoch: int, total: int, on_batch: BatchCallback | None, report_seconds: float = 0.0, sync_every: int = 256):
        self.epoch, self.total, self.on_batch = epoch, total, on_batch
        self.report_seconds, self.sync_every = report_seconds, sync_every
        self.started, self.items, self.losses, self.pending = time.monotonic(), 0, [], []
        self.reported = -math.inf

    def add(self, loss: torch.Tensor, size: int) -> None:
        self.pending.append(loss)
        self.items += size
        now = time.monotonic()
        due = self.on_batch is not None and now - self.reported >= self.report_seconds
        if due or len(self.pending) >= self.sync_every:
            self._flush()
        if due:
            self.reported = now
            self.on_batch({
                "epoch": self.epoch, "items": self.items, "total": self.total,
                "loss": float(np.mean(self.losses[-50:])), "items_per_second": self.items / max(now - self.started, 1e-9),
            })

    def _flush(self) -> None:
        """The pending losses to the host, in one copy."""
        if self.pending:
            self.losses.extend(torch.stack(self.pending).float().cpu().tolist())
            self.pending = []

    @property
    def mean_loss(self) -> float:
        self._flush()
        return float(np.mean(self.losses)) if self.losses else math.nan


def _train_torch(spec: ModelSpec, store, sides, labels, recipe, hparams, options, device, on_epoch, on_batch=None, initial_state=None) -> TrainResult:
    run = _TorchRun(spec, store, hparams, options, device)
    if initial_state is not None:  # fine-tuning: start from given weights instead of a fresh initialisation
        run.model.load_state_dict(initial_state)
    optimizer = make_optimizer(recipe, run.model.parameters(), device=device)
    items = training_items(store, sides.train, labels[sides.train], options.balance, recipe.augmentation_shifts, recipe.shift_step)
    sampler_labels = labels[items.pairs] if options.balance == "sampler" else None
    dataset = PairBatches(
        store, items, recipe.batch_size, *_lengths(hparams), shuffle=True, seed=options.seed, sampler_labels=sampler_labels, inputs=spec.inputs
    )
    # What one epoch trains on: under --balance sampler the class-balanced draw the dataset makes each
    # epoch (the same size every epoch), not the pairs it is drawn from.
    per_epoch = len(items) if sampler_labels is None else len(balanced_items(items.pairs, sampler_labels, np.random.default_rng(0)))
    pos_weight = _pos_weight(labels[sides.train], device) if options.balance == "weights" else None
    run.settle(sides.train, recipe, pos_weight)  # CUDA: a timed probe of a few steps (counted in the budget below)
    deadline = time.monotonic() + options.budget_minutes * 60 if options.budget_minutes else math.inf

    history, best_key, best_state, best_epoch, stop, waited = [], None, None, -1, "epochs", 0
    threshold = math.nan
    for epoch in range(recipe.epochs):
        dataset.set_epoch(epoch)
        run.model.train()
        started, cpu_started = time.monotonic(), time.process_time()
        meter = _BatchMeter(epoch + 1, per_epoch, on_batch, report_seconds=REPORT_SECONDS if device.type == "cuda" else 0.0)
        for batch in make_loader(dataset, options.num_workers, device):
            if len(batch["label"]) < 2:
                continue  # BatchNorm cannot train on one pair; a lone last pair is reshuffled into a full batch next epoch
            batch = to_device(batch, device)
            meter.add(_train_step(run, batch, pos_weight, optimizer), len(batch["label"]))
            if time.monotonic() > deadline:
                stop = "budget"
                break
        _, valid_labels, valid_scores = run.predict(sides.valid, _eval_batch(recipe, options))
        key = _validation_key(valid_labels, valid_scores)
        record = {
            "epoch": epoch + 1, "loss": meter.mean_loss, "valid_auroc": key[0], "valid_loss": key[1], "items": meter.items,
            "seconds": time.monotonic() - started, "cpu_seconds": time.process_time() - cpu_started,
        }
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if sides.valid.size == 0 or _better(key, best_key, recipe.monitor):  # no validation: keep the last epoch
            best_key, best_epoch, waited = key, epoch + 1, 0
            best_state = copy.deepcopy(run.model.state_dict())
            threshold = best_f1_threshold(valid_labels, valid_scores)  # of the kept weights, on validation only
        else:
            waited += 1
        if stop == "budget":
            break
        if recipe.early_stopping_patience is not None and waited >= recipe.early_stopping_patience:
            stop = "early_stopping"
            break

    run.model.load_state_dict(best_state)
    test_pairs, test_labels, test_scores = run.predict(sides.test, _eval_batch(recipe, options))
    summary = {
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "stopped_by": stop,
        "n_train_items": per_epoch,
        "items_seen": int(sum(record["items"] for record in history)),
        "embedding_source": getattr(run.model, "embedding_source", None),
        "precision": run.precision,
        "kmer_conv_path": run.kmer_conv_path,  # None: the model has no k-mer conv layer left to auto
        "probe": run.probe,  # CUDA: seconds per step of each path/precision timed; None when nothing was probed
        "valid_threshold": threshold,
    }
    return TrainResult(test_pairs, test_labels, test_scores, history, summary, state=best_state)


def _eval_batch(recipe: TrainingRecipe, options: TrainOptions) -> int:
    return max(recipe.batch_size, DEMO_EVAL_BATCH) if options.demo else recipe.batch_size


def _pos_weight(train_labels: np.ndarray, device: torch.device) -> torch.Tensor:
    n_pos = max(int(train_labels.sum()), 1)
    return torch.tensor((train_labels.size - n_pos) / n_pos, dtype=torch.float32, device=device)


# ---- scikit-learn models ----------------------------------------------------------------------
def _features(spec: ModelSpec, store, pairs, hparams, options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs, labels, feature matrix), built batch by batch so memory stays bounded."""
    parts, out_pairs, out_labels = [], [], []
    for batch in _batches(store, pairs, 1024, hparams, options, torch.device("cpu"), spec.inputs):
        parts.append(sklearn_features(spec, {name: tensor.numpy() for name, tensor in batch.items()}))
        out_pairs.append(batch["pair"].numpy())
        out_labels.append(batch["label"].numpy())
    order = np.argsort(np.concatenate(out_pairs), kind="stable")
    return np.concatenate(out_pairs)[order], np.concatenate(out_labels)[order], np.concatenate(parts)[order]


def _train_sklearn(spec: ModelSpec, store, sides, labels, recipe, hparams, options, device, on_epoch, on_batch=None) -> TrainResult:
    started, cpu_started = time.monotonic(), time.process_time()
    _, train_labels, train_features = _features(spec, store, sides.train, hparams, options)
    estimator = spec.factory(**hparams)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=options.seed)
    estimator.fit(train_features, train_labels.astype(np.int64))
    record: dict[str, float] = {
        "epoch": 1, "loss": math.nan, "seconds": time.monotonic() - started, "cpu_seconds": time.process_time() - cpu_started,
    }
    threshold = math.nan
    if sides.valid.size:
        _, valid_labels, valid_features = _features(spec, store, sides.valid, hparams, options)
        valid_scores = sklearn_probabilities(estimator, valid_features)
        record["valid_auroc"], record["valid_loss"] = _validation_key(valid_labels, valid_scores)
        threshold = best_f1_threshold(valid_labels, valid_scores)
    if on_epoch is not None:
        on_epoch(record)
    test_pairs, test_labels, test_features = _features(spec, store, sides.test, hparams, options)
    test_scores = sklearn_probabilities(estimator, test_features)
    summary = {"best_epoch": 1, "epochs_run": 1, "stopped_by": "fitted", "n_train_items": int(sides.train.size),
               "items_seen": int(sides.train.size), "embedding_source": None, "valid_threshold": threshold}
    return TrainResult(test_pairs, test_labels, test_scores, [record], summary, estimator=estimator)


# ---- entry point ------------------------------------------------------------------------------
def train_fold(
    spec: ModelSpec,
    store: str,
    sides: Sides,
    options: TrainOptions,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``spec`` on ``sides.train`` (selecting on ``sides.valid``) and score ``sides.test``.

    ``on_epoch`` gets each epoch's record; ``on_batch`` gets the running loss and items/s after
    every training batch. ``initial_state`` (a torch model's state dict, e.g. a checkpoint's
    weights) replaces the fresh initialisation: training fine-tunes it with the same recipe.
    """
    if options.balance not in BALANCE_MODES:
        raise EpizooError(f"unknown --balance {options.balance!r}; choose one of {', '.join(BALANCE_MODES)}")
    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    recipe = resolve_recipe(spec, options)
    group = zarr.open_group(str(store), mode="r")
    labels = np.asarray(group["pair_label"][:]).astype(np.float32)
    sides, unmeasured = _measured_sides(spec, group, sides)
    sides = prepare_sides(sides, labels, recipe, options)
    torch.manual_seed(options.seed)
    np.random.seed(options.seed)
    hparams = fill_store_hparams(spec.hparams(tiny=options.tiny, demo=options.demo), group)
    starting = None
    if spec.uses_pretrained_embedding:  # dna2vec's vectors, else ones trained on this fold's training side
        starting = starting_vectors(str(store), group, sides.train, options.seed)
        hparams["pretrained_embedding"] = starting.matrix
    if initial_state is not None and spec.kind == "sklearn":
        raise EpizooError(f"{spec.name} is a scikit-learn model: it is fitted afresh and cannot start from given weights")
    if spec.kind == "sklearn":
        result = _train_sklearn(spec, str(store), sides, labels, recipe, hparams, options, device, on_epoch, on_batch)
    else:
        result = _train_torch(spec, str(store), sides, labels, recipe, hparams, options, device, on_epoch, on_batch, initial_state)
    if starting is not None:
        starting.record(result.summary)
    result.summary.update(
        recipe=asdict(recipe),
        hparams=_public_hparams(hparams),
        options=asdict(options),
        device=str(device),
        n_train_pairs=int(sides.train.size),
        n_valid_pairs=int(sides.valid.size),
        n_test_pairs=int(sides.test.size),
        inputs=list(spec.inputs),
        **({"initial_state": True} if initial_state is not None else {}),
        **({"pairs_without_signals": unmeasured} if unmeasured else {}),
    )
    return result


def _measured_sides(spec: ModelSpec, group, sides: Sides) -> tuple[Sides, dict[str, int]]:
    """A signals model trains and scores only pairs with signal values; the others are counted per side."""
    if "signals" not in spec.inputs:
        return sides, {}
    kept = {name: measured_pairs(group, getattr(sides, name)) for name in ("train", "valid", "test")}
    unmeasured = {name: int(getattr(sides, name).size - kept[name].size) for name in kept}
    return Sides(kept["train"], kept["valid"], kept["test"]), {k: v for k, v in unmeasured.items() if v}
