"""Training one fold: determinism, augmentation confined to training positives, selection, caps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import epizoo
import epizoo.plugins
from epizoo import coords
from epizoo.errors import EpizooError
from epizoo.plugins import get_model, get_models, get_split
from epizoo.training import trainer
from epizoo.checkpoint import load_checkpoint, save_checkpoint
from epizoo.training.trainer import Sides, TrainOptions, train_fold

FAST_MODEL = "speid"  # the quickest torch model at tiny size


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("trainer") / "tiny.zarr"
    ds = epizoo.simulate_store(path, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=1)
    fold = get_split("loco").function(ds)[0]
    sides = Sides(*(np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)))
    return str(path), sides, ds["pair_label"].values.astype(int)


@pytest.fixture(autouse=True)
def offline_vectors(shared_data, monkeypatch):
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalog's pre-filled cache


def tiny(**overrides) -> TrainOptions:
    return TrainOptions(**{"tiny": True, "epochs": 1, "batch_size": 16, "max_pairs": 20, **overrides})


def test_same_seed_same_scores_other_seed_other_scores(store):
    path, sides, _ = store
    first = train_fold(get_model(FAST_MODEL), path, sides, tiny(seed=5))
    again = train_fold(get_model(FAST_MODEL), path, sides, tiny(seed=5))
    other = train_fold(get_model(FAST_MODEL), path, sides, tiny(seed=6))
    np.testing.assert_array_equal(first.test_scores, again.test_scores)
    assert not np.array_equal(first.test_scores, other.test_scores)
    np.testing.assert_array_equal(first.test_pairs, sides.test)


@pytest.fixture()
def made(monkeypatch):
    """Every PairBatches the trainer builds, in order."""
    built = []
    original = trainer.PairBatches

    class Recording(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(trainer, "PairBatches", Recording)
    return built


def test_augmentation_touches_training_positives_only(store, made):
    path, sides, labels = store
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny(max_pairs=None, epochs=2))
    training = [d for d in made if d.shuffle]
    assert len(training) == 1
    items = training[0].items
    train_pairs = np.unique(items.pairs)
    n_pos = int(labels[train_pairs].sum())
    shifts = coords.augmentation_shifts(trainer.TINY_SHIFTS)
    assert len(items) == n_pos * len(shifts) + (train_pairs.size - n_pos)
    shifted = items.pairs[items.shifts != 0]
    assert labels[shifted].all()
    assert not np.isin(train_pairs, np.concatenate([sides.valid, sides.test])).any()
    for dataset in made:
        if not dataset.shuffle:  # validation and test reading
            assert not dataset.items.shifts.any()
    assert result.summary["n_train_items"] == len(items)
    assert result.summary["recipe"]["augmentation_shifts"] == trainer.TINY_SHIFTS


@pytest.mark.parametrize("balance", ["weights", "sampler", "none"])
def test_other_balance_modes_never_shift(store, made, balance):
    path, sides, _ = store
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny(balance=balance))
    assert all(not d.items.shifts.any() for d in made)
    assert result.summary["recipe"]["augmentation_shifts"] == 0
    assert (made[0].sampler_labels is not None) == (balance == "sampler")


def test_sampler_reports_the_items_an_epoch_draws(store, made):
    path, sides, labels = store
    seen = []
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny(balance="sampler", max_pairs=None), on_batch=seen.append)
    train = np.unique(made[0].items.pairs)
    n_pos = int(labels[train].sum())
    drawn = 2 * max(n_pos, train.size - n_pos)  # the larger class once, the smaller drawn to match
    assert n_pos != train.size - n_pos  # unbalanced, so the draw differs from the pair count
    assert result.summary["n_train_items"] == drawn == len(made[0]._epoch_items())
    assert {record["total"] for record in seen} == {drawn}


@pytest.mark.parametrize("optimizer", ["adam", "nadam", "rmsprop"])
def test_the_optimizer_gets_the_recipes_epsilon(optimizer):
    from epizoo.zoo import TrainingRecipe

    parameters = [torch.nn.Parameter(torch.zeros(2))]
    assert TrainingRecipe().epsilon == 1e-8  # PyTorch's default unless a recipe says otherwise
    made = trainer.make_optimizer(TrainingRecipe(optimizer=optimizer, epsilon=1e-7), parameters)
    assert made.param_groups[0]["eps"] == 1e-7
    assert "eps" not in trainer.make_optimizer(TrainingRecipe(optimizer="sgd", epsilon=1e-7), parameters).param_groups[0]


def test_keras_ported_recipes_use_the_keras_epsilon():
    """Models whose upstream is Keras train with its eps (1e-7); PyTorch upstreams and epizoo's own keep 1e-8."""
    # SPEID and SIMCNN ran on Keras 1 (Merge layers, nb_filter), whose Adam default eps was 1e-8.
    keras = {"epivan", "epi-dlmh", "epi-mind", "epi-trans"}
    for name, spec in epizoo.plugins.get_models().items():
        if spec.kind == "torch":
            assert spec.recipe.epsilon == (1e-7 if name in keras else 1e-8), name


def test_best_validation_epoch_is_kept_and_budget_stops(store):
    path, sides, _ = store
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny(epochs=3))
    aurocs = [epoch["valid_auroc"] for epoch in result.history]
    assert result.summary["best_epoch"] == int(np.nanargmax(aurocs)) + 1
    assert len(result.history) == 3 and result.summary["stopped_by"] == "epochs"
    stopped = train_fold(get_model(FAST_MODEL), path, sides, tiny(epochs=3, budget_minutes=1e-6))
    assert stopped.summary["stopped_by"] == "budget" and stopped.summary["epochs_run"] == 1


def test_max_pairs_is_stratified_and_recorded(store):
    path, sides, labels = store
    result = train_fold(get_model("distance"), path, sides, TrainOptions(max_pairs=12))
    assert result.summary["n_train_pairs"] == 12
    assert result.summary["options"]["max_pairs"] == 12
    assert result.estimator is not None and result.test_scores.shape == sides.test.shape


def test_pretrained_embedding_is_recorded(store):
    path, sides, _ = store
    result = train_fold(get_model("epivan"), path, sides, tiny(max_pairs=8, batch_size=8))
    assert result.summary["embedding_source"] == "dna2vec"
    assert "pretrained_embedding" not in result.summary["hparams"]


def test_checkpoint_round_trip(store, tmp_path):
    path, sides, _ = store
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny())
    save_checkpoint(tmp_path / "ck", {"model": FAST_MODEL, "metrics": {"auroc": 0.5}}, state=result.state)
    description, state = load_checkpoint(tmp_path / "ck")
    assert description["model"] == FAST_MODEL
    assert set(state) == set(result.state)
    assert all(torch.equal(state[k], result.state[k].cpu()) for k in state)
    assert not list((tmp_path / "ck").glob(".*tmp"))


def test_bad_options_are_one_clear_error(store):
    path, sides, _ = store
    with pytest.raises(EpizooError, match="balance"):
        train_fold(get_model(FAST_MODEL), path, sides, tiny(balance="oversample"))
    with pytest.raises(EpizooError, match="device"):
        train_fold(get_model(FAST_MODEL), path, sides, tiny(device="tpu"))


def test_lr_precision_and_clocks_are_applied_and_recorded(store):
    path, sides, _ = store
    batches = []
    result = train_fold(get_model(FAST_MODEL), path, sides, tiny(lr=0.02, precision="bf16"), on_batch=batches.append)
    assert result.summary["recipe"]["learning_rate"] == 0.02
    assert result.summary["precision"] == "bf16" and result.summary["options"]["precision"] == "bf16"
    assert all(record["cpu_seconds"] > 0 and record["seconds"] > 0 for record in result.history)
    assert result.history[0]["items"] == batches[-1]["items"]  # training items seen in the epoch
    # one report per training batch, with a running loss and a rate
    assert len(batches) >= 1 and batches[-1]["items"] <= batches[-1]["total"]
    assert [b["items"] for b in batches] == sorted(b["items"] for b in batches)
    assert all(np.isfinite(b["loss"]) and b["items_per_second"] > 0 for b in batches)
    default = train_fold(get_model(FAST_MODEL), path, sides, tiny())
    assert default.summary["precision"] == "fp32"  # equal math on CPU unless asked
    assert default.summary["recipe"]["learning_rate"] == get_model(FAST_MODEL).recipe.learning_rate


def test_demo_size_uses_demo_hparams_and_recipe(store):
    path, sides, _ = store
    spec = get_model("epizoo-cnn")
    result = train_fold(spec, path, sides, TrainOptions(demo=True, max_pairs=40, batch_size=16))
    assert result.summary["hparams"]["enhancer_length"] == spec.demo_hparams["enhancer_length"]
    assert result.summary["recipe"]["epochs"] == trainer.DEMO_RECIPE["epochs"]
    assert result.summary["recipe"]["augmentation_shifts"] == 0
    published = trainer.resolve_recipe(get_model("epi-dlmh"), TrainOptions(demo=True))
    assert published.epochs == trainer.DEMO_RECIPE["epochs"] and published.augmentation_shifts == 0
    assert published.max_train_pairs == trainer.DEMO_RECIPE["max_train_pairs"]
    assert published.learning_rate == get_model("epi-dlmh").demo_recipe["learning_rate"]  # its demo_recipe says so
    assert trainer.resolve_recipe(get_model("epi-mind"), TrainOptions(demo=True)).learning_rate == get_model("epi-mind").recipe.learning_rate
    # one budget for every model at demo size: a spec's demo_recipe cannot change it
    budget = {"epochs", "max_train_pairs", "augmentation_shifts"}
    recipes = [trainer.resolve_recipe(spec, TrainOptions(demo=True)) for spec in get_models().values() if spec.kind == "torch"]
    assert all({key: getattr(r, key) for key in budget} == {key: trainer.DEMO_RECIPE[key] for key in budget} for r in recipes)
    greedy = replace(spec, demo_recipe={"epochs": 40, "max_train_pairs": None, "learning_rate": 0.01})
    assert trainer.resolve_recipe(greedy, TrainOptions(demo=True)).epochs == trainer.DEMO_RECIPE["epochs"]


@pytest.mark.parametrize(
    "options, text",
    [(dict(tiny=True, demo=True), "two sizes"), (dict(lr=0.0), "learning rate"), (dict(precision="fp8"), "precision")],
)
def test_bad_training_options_are_one_clear_error(store, options, text):
    path, sides, _ = store
    with pytest.raises(EpizooError, match=text):
        train_fold(get_model(FAST_MODEL), path, sides, TrainOptions(**{"epochs": 1, "max_pairs": 20, **options}))
