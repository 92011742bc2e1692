"""Training contact-map models (``task="contact-map"``, e.g. ChromNet) on the windows of a store's
genome layer (:mod:`epizoo.contact.windows`).

The recipe is ChromNet's (upstream train_model.py):

* loss = MSE(map, target) on windows whose cell type has a contact map + cross-entropy(cell-type
  logits, cell type) on real cell types. A *noise copy* ``<cell>_noise`` re-uses ``<cell>``'s
  training windows at a random shift (up to one step), adds Gaussian noise (sigma 0.1) to each
  transformed track and multiplies its target by the Pearson correlation of the clean and the noisy
  tracks; it gets the MSE (when ``<cell>`` has maps) and no classification.
* Adam (the spec's learning rate), linear warm-up then cosine annealing stepped per epoch (upstream:
  10 and 80 epochs; like upstream's scheduler the first warm-up epoch runs at lr 0), gradient
  clipping at norm 1, the spec's batch size, and the epoch with the lowest validation MSE kept
  (early stopping after ``patience`` epochs without improvement).
* splits by chromosome (:func:`epizoo.contact.windows.chromosome_split`).

The test windows are scored with :mod:`epizoo.contact.metrics`, beside the distance-decay baseline
fitted on the training targets.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from epizoo.checkpoint import checkpoint_model_fields, save_checkpoint
from epizoo.contact.metrics import DistanceDecay, diagonal_pearson, score_maps
from epizoo.contact.windows import (
    NOISE_SUFFIX, UPSTREAM_STEP, UPSTREAM_WINDOW, ContactWindows, Window, as_genome, chromosome_split, make_windows,
    track_marks,
)
from epizoo.devices import PRECISIONS, resolve_device
from epizoo.errors import EmptyResultError, EpizooError, UnknownNameError
from epizoo.jsontext import dumps
from epizoo.model_inputs import contact_maps
from epizoo.output_folder import check_replaceable, write_marker
from epizoo.zoo import ModelSpec

UPSTREAM_WARMUP = 10
UPSTREAM_SEED = 2077
CONTACT_RUN = "train-contacts"  # the marker kind of a run folder train-contacts writes


def contact_loss(maps, logits, targets, labels, has_map, classify) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, map MSE, classification CE) with upstream's masks: no MSE without a map, no class for a noise copy."""
    zero = maps.sum() * 0.0
    mse = F.mse_loss(maps[has_map], targets[has_map]) if bool(has_map.any()) else zero
    classify = classify & (labels >= 0)
    ce = F.cross_entropy(logits[classify], labels[classify]) if logits is not None and bool(classify.any()) else zero
    return mse + ce, mse, ce


def warmup_cosine(epoch: int, warmup: int, total: int) -> float:
    """The learning-rate factor of epoch ``epoch`` (0-based): linear from 0 over ``warmup`` epochs (as
    pl_bolts' LinearWarmupCosineAnnealingLR with its start lr 0), then cosine down to 0 at ``total``."""
    if epoch < warmup:
        return epoch / max(1, warmup - 1) if warmup > 1 else 0.0
    if total <= warmup:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / (total - warmup)))


@dataclass
class ContactOptions:
    """What a user may change; None keeps the recipe (upstream's) or a size-derived default."""

    tiny: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)  # overrides of the model's (tiny) hparams
    epochs: int | None = None
    warmup_epochs: int | None = None  # None: upstream's 10 when training 80 epochs, else one eighth
    patience: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    step: int | None = None  # bp between windows; None: upstream's 500 kb at 2 Mb, else a quarter window
    split: dict[str, list[str]] | None = None  # side -> contigs; None: chromosome_split's default
    cell_lines: list[str] | None = None  # None: every cell line with the model's tracks
    test_cell_lines: list[str] | None = None  # whose maps the test windows score; None: the training ones with maps
    noise_copies: list[str] | None = None  # None: the first cell line with contact maps; []: none
    contacts_from: str | None = None  # upstream's IMR90 quirk: every target from this cell line
    max_windows: int | None = None  # cap the windows per side (seeded draw), for short runs
    seed: int = UPSTREAM_SEED
    device: str = "auto"
    precision: str = "auto"  # 'bf16': autocast; 'fp32' or 'auto': float32 (see contact_precision)
    threads: int | None = None
    budget_seconds: float | None = None  # stop after the epoch that passes this


@dataclass
class ContactResult:
    metrics: dict[str, float]  # the test windows, model
    baseline: dict[str, float]  # the test windows, distance-decay baseline
    diagonal: dict[str, list[float]]  # per-diagonal correlation curves, model and baseline
    history: list[dict[str, Any]]
    state_dict: dict[str, torch.Tensor]
    summary: dict[str, Any]


def _cells(genome: Any, options: ContactOptions, tracks: Sequence[str]) -> tuple[list[str], set[str], list[str]]:
    """(real cell types, cell lines with maps, noise copies)."""
    with_tracks = sorted({str(cell) for cell, _ in genome.track_names()})
    cells = list(options.cell_lines) if options.cell_lines else with_tracks
    map_cells = {str(cell) for cell in genome.contact_cell_lines()}
    named = [*cells, *(options.noise_copies or []), *(options.test_cell_lines or []), *([options.contacts_from] if options.contacts_from else [])]
    unknown = [c for c in named if c not in set(with_tracks) | map_cells]
    if unknown:
        raise UnknownNameError(f"unknown cell line {unknown[0]!r}; the store has {', '.join(sorted(set(with_tracks) | map_cells))}")
    if options.contacts_from and options.contacts_from not in map_cells:
        raise EpizooError(f"contacts_from {options.contacts_from}: that cell line has no contact map")
    if not map_cells & set(cells) and not options.contacts_from:
        raise EmptyResultError(f"none of the cell lines {', '.join(cells)} has a contact map to train on")
    unmapped = [c for c in options.test_cell_lines or [] if c not in map_cells]
    if unmapped:
        raise EpizooError(f"test cell line {unmapped[0]} has no contact map to score against; choose one of {', '.join(sorted(map_cells))}")
    noise = options.noise_copies if options.noise_copies is not None else sorted(map_cells & set(cells))[:1]
    return cells, map_cells, [f"{cell}{NOISE_SUFFIX}" for cell in noise]


def _draw(windows: list[Window], limit: int | None, rng: np.random.Generator) -> list[Window]:
    if limit is None or len(windows) <= limit:
        return windows
    return [windows[i] for i in sorted(rng.choice(len(windows), size=limit, replace=False))]


def _autocast(device, precision: str):
    """bf16 autocast when asked; otherwise fp32, the equal math (a no-op context)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def contact_precision(name: str) -> str:
    """'fp32' or 'bf16': a contact model trains in bf16 autocast only when asked (it was never timed
    against fp32, so ``auto`` keeps the equal math)."""
    if name not in PRECISIONS:
        raise EpizooError(f"unknown precision {name!r}; use fp32 or bf16")
    return "bf16" if name == "bf16" else "fp32"


def _predict(model, dataset: ContactWindows, batch_size: int, device, precision: str = "fp32") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted maps, targets, has_map) of every window, in eval mode."""
    model.eval()
    maps, targets, masks = [], [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with torch.no_grad():
        for x, target, _label, has_map, _classify in loader:
            with _autocast(device, precision):
                predicted, _ = contact_maps(model, x.to(device))
            maps.append(predicted.float().cpu().numpy())
            targets.append(target.numpy())
            masks.append(has_map.numpy())
    return np.concatenate(maps), np.concatenate(targets), np.concatenate(masks)


def _train_epoch(model, loader, optimizer, device, precision: str = "fp32") -> dict[str, float]:
    model.train()
    totals = {"loss": 0.0, "mse": 0.0, "ce": 0.0}
    batches = 0
    for x, target, label, has_map, classify in loader:
        with _autocast(device, precision):
            maps, logits = contact_maps(model, x.to(device))
        maps, logits = maps.float(), logits.float()  # the loss in float32 whatever the forward ran in
        loss, mse, ce = contact_loss(maps, logits, target.to(device), label.to(device), has_map.to(device), classify.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        for key, value in (("loss", loss), ("mse", mse), ("ce", ce)):
            totals[key] += float(value.detach())
        batches += 1
    return {f"train_{key}": value / max(1, batches) for key, value in totals.items()}


def _valid_mse(model, dataset: ContactWindows | None, batch_size: int, device, precision: str = "fp32") -> float:
    if dataset is None or not len(dataset):
        return math.nan
    maps, targets, has_map = _predict(model, dataset, batch_size, device, precision)
    return float(np.mean((maps[has_map] - targets[has_map]) ** 2)) if has_map.any() else math.nan


def _check_mapped_training(windows: list[Window], map_cells: set[str], options: ContactOptions) -> None:
    """The distance-decay baseline is fitted on the training windows with a contact map: refuse a
    draw without one before training, not after it."""
    if not any(not w.is_noise and (options.contacts_from or w.source) in map_cells for w in windows):
        cap = f" (--max-pairs {options.max_windows})" if options.max_windows is not None else ""
        raise EmptyResultError(
            f"none of the {len(windows)} training windows drawn{cap} has a contact map to fit the distance-decay "
            "baseline on; raise --max-pairs or train on a cell line with contact maps"
        )


def train_contact_model(spec: ModelSpec, store: Any, options: ContactOptions | None = None,
                        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> ContactResult:
    """Train a contact-map model on a store's genome layer with its recipe; score the test contigs.

    Returns the test metrics of the model and of the distance-decay baseline, the per-diagonal
    curves, the per-epoch history and the kept (best validation MSE) weights."""
    options = options or ContactOptions()
    if not spec.is_contact_map:
        raise EpizooError(f"model {spec.name} predicts pairs, not contact maps; train it with epizoo bench")
    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    precision = contact_precision(options.precision)
    genome = as_genome(store)
    rng = np.random.default_rng(options.seed)
    torch.manual_seed(options.seed)

    cells, map_cells, noise = _cells(genome, options, spec.tracks)
    mapped = [c for c in cells if (options.contacts_from or c) in map_cells]
    tested = list(options.test_cell_lines or mapped)  # a cross-cell-type test reads its own tracks only
    marks = track_marks(genome, spec.tracks, sorted({*cells, *tested, *(n[: -len(NOISE_SUFFIX)] for n in noise)}))
    hparams = spec.hparams(tiny=options.tiny, **options.hparams, n_tracks=len(spec.tracks), n_cell_types=max(1, len(cells)))
    window_length, n_bins = int(hparams["window_length"]), int(hparams["n_bins"])
    step = options.step or (UPSTREAM_STEP if window_length == UPSTREAM_WINDOW else max(1, window_length // 4))
    lengths = {str(name): int(length) for name, length in genome.genome_contigs().items()}
    sides = chromosome_split(list(lengths), options.split)
    labels = {cell: index for index, cell in enumerate(cells)}
    windows = {
        "train": _draw(make_windows([*cells, *noise], sides["train"], lengths, window_length, step), options.max_windows, rng),
        "valid": _draw(make_windows(mapped, sides["valid"], lengths, window_length, step), options.max_windows, rng),
        "test": _draw(make_windows(tested, sides["test"], lengths, window_length, step), options.max_windows, rng),
    }
    for side in ("train", "test"):
        if not windows[side]:
            raise EmptyResultError(
                f"no {side} window: the {side} contigs ({', '.join(sides[side])}) are shorter than the model's "
                f"{window_length:,} bp window"
            )
    _check_mapped_training(windows["train"], map_cells, options)
    dataset = {side: ContactWindows(genome, ws, marks, window_length, n_bins, labels, map_cells, options.contacts_from,
                                    step if side == "train" else 0, seed=options.seed + i)
               for i, (side, ws) in enumerate(windows.items())}

    model = spec.factory(**hparams).to(device)
    recipe = spec.recipe
    epochs = options.epochs or recipe.epochs
    warmup = options.warmup_epochs if options.warmup_epochs is not None else min(UPSTREAM_WARMUP, epochs // 8)
    patience = options.patience or recipe.early_stopping_patience or epochs
    batch_size = options.batch_size or recipe.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate or recipe.learning_rate, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: warmup_cosine(epoch, warmup, epochs))
    generator = torch.Generator().manual_seed(options.seed)
    loader = torch.utils.data.DataLoader(dataset["train"], batch_size=batch_size, shuffle=True, generator=generator)

    history, best, best_state, stale, began, stopped_by = [], math.inf, None, 0, time.monotonic(), "epochs"
    for epoch in range(epochs):
        lr = optimizer.param_groups[0]["lr"]
        record = {"epoch": epoch + 1, "lr": lr, **_train_epoch(model, loader, optimizer, device, precision)}
        scheduler.step()
        record["valid_mse"] = _valid_mse(model, dataset["valid"], batch_size, device, precision)
        record["seconds"] = time.monotonic() - began
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        score = record["valid_mse"] if math.isfinite(record["valid_mse"]) else record["train_mse"]
        if score < best or best_state is None:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if stale >= patience:
            stopped_by = "early stopping"
            break
        if options.budget_seconds is not None and record["seconds"] > options.budget_seconds:
            stopped_by = "budget"
            break
    model.load_state_dict(best_state)

    return _score(model, dataset, batch_size, device, precision, history, {
        "model": spec.name, "hparams": hparams, "cell_types": cells, "test_cell_lines": tested, "noise_copies": noise, "map_cell_lines": sorted(map_cells),
        "split": sides, "step": step, "windows": {side: len(ws) for side, ws in windows.items()},
        "epochs_run": len(history), "warmup_epochs": warmup, "stopped_by": stopped_by, "best_valid_mse": best, "precision": precision,
        "bin_size": getattr(genome, "contact_bin_size", None), "options": {k: v for k, v in asdict(options).items() if k != "hparams"},
    })


def _score(model, dataset: dict[str, ContactWindows], batch_size: int, device, precision: str, history, summary) -> ContactResult:
    """Test metrics of the kept model and of the distance-decay baseline fitted on the training targets."""
    predicted, observed, has_map = _predict(model, dataset["test"], batch_size, device, precision)
    predicted, observed = predicted[has_map], observed[has_map]
    train = dataset["train"]
    with_maps = [w for w in train.windows if not w.is_noise and (train.contacts_from or w.source) in train.map_cells]
    train_targets = np.stack([train.target(w, w.start) for w in with_maps])
    decay = DistanceDecay().fit(train_targets)
    baseline_maps = decay.predict(len(observed))
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return ContactResult(
        metrics=score_maps(predicted, observed),
        baseline=score_maps(baseline_maps, observed),
        diagonal={"model": diagonal_pearson(predicted, observed).tolist(), "baseline": diagonal_pearson(baseline_maps, observed).tolist()},
        history=history,
        state_dict=state,
        summary=summary,
    )


# ---- writing a run ------------------------------------------------------------------------------
def write_contact_run(result: ContactResult, spec: ModelSpec, out: str | Path, command: str = "") -> Path:
    """``out/metrics.json`` (test metrics of the model and the baseline, per-diagonal curves, history,
    summary) and ``out/checkpoint`` (weights and a description ``epizoo.load_model`` can read),
    written in a sibling folder and renamed into place: never half-written. ``out`` must not exist."""
    import os
    import shutil

    out = Path(out)
    check_replaceable(out, False, CONTACT_RUN)  # train-contacts has no --force: it never replaces a folder
    wip = out.with_name(f".{out.name}.wip-{os.getpid()}")
    try:
        description = {**checkpoint_model_fields(spec, result.summary["hparams"]), "task": spec.task, "command": command,
                       "contact_training": result.summary}
        save_checkpoint(wip / "checkpoint", description, state=result.state_dict)
        record = {"command": command, "model": result.metrics, "baseline": result.baseline, "diagonal_pearson": result.diagonal,
                  "history": result.history, "summary": result.summary}
        (wip / "metrics.json").write_text(dumps(record, indent=2) + "\n")
        write_marker(wip, CONTACT_RUN)
        os.rename(wip, out)  # fails, rather than replaces, when a non-empty out appeared meanwhile
    finally:
        shutil.rmtree(wip, ignore_errors=True)
    return out
