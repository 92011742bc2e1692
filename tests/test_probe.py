"""What ``auto`` means on a GPU (epizoo.training.probe), with faked step timings: no test here
times anything, and none needs a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import epizoo
from epizoo.nn import EmbeddedConv1d, set_kmer_conv_path
from epizoo.plugins import get_model, get_split
from epizoo.training import probe, trainer
from epizoo.training.trainer import Sides, TrainOptions, train_fold

CUDA, CPU = torch.device("cuda"), torch.device("cpu")  # a device object needs no GPU


class KmerModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.conv, self.layer = nn.Embedding(16, 4), nn.Conv1d(4, 3, 3), EmbeddedConv1d()


def fake_timer(seconds: dict[tuple, float]):
    """A step timer returning ``seconds[(path, precision)]``, counting its calls."""
    calls = []

    def step(path, precision):
        calls.append((path, precision))
        return seconds[path, precision]

    return step, calls


@pytest.mark.parametrize("faster", ["plain", "lookup"])
def test_the_faster_path_wins(faster):
    slower = {"plain": "lookup", "lookup": "plain"}[faster]
    step, calls = fake_timer({(faster, "bf16"): 0.01, (slower, "bf16"): 0.08})
    choice = probe.choose(KmerModel(), CUDA, "bf16", "bf16", step, warmup=1, steps=3)
    assert choice["kmer_conv_path"] == faster and choice["precision"] == "bf16"
    assert len(calls) == 2 * 4  # (warm-up + timed rounds) x candidates
    assert choice["probe"]["seconds_per_step"] == {f"{faster}/bf16": 0.01, f"{slower}/bf16": 0.08}


def test_the_median_of_the_timed_steps_after_warm_up_counts():
    times = iter([9.0, 9.0, 0.05, 0.01, 0.05, 0.01, 0.05, 0.01])  # plain, lookup per round; warm-up first
    timed = probe.time_candidates([("plain", "fp32"), ("lookup", "fp32")], lambda *_: next(times), warmup=1, steps=3)
    assert timed == {("plain", "fp32"): 0.05, ("lookup", "fp32"): 0.01}


def test_cpu_keeps_lookup_and_fp32_without_probing():
    step, calls = fake_timer({})
    choice = probe.choose(KmerModel(), CPU, "auto", "fp32", step)
    assert choice == {"kmer_conv_path": "lookup", "precision": "fp32", "probe": None} and calls == []


def test_a_model_without_kmer_conv_skips_the_path_probe():
    step, calls = fake_timer({(None, "fp32"): 0.02, (None, "bf16"): 0.03})
    fixed = probe.choose(nn.Linear(2, 1), CUDA, "fp32", "fp32", step)
    assert fixed == {"kmer_conv_path": None, "precision": "fp32", "probe": None} and calls == []
    auto = probe.choose(nn.Linear(2, 1), CUDA, "auto", "bf16", step)  # only the precision is left to time
    assert auto["kmer_conv_path"] is None and auto["precision"] == "fp32"
    assert set(calls) == {(None, "fp32"), (None, "bf16")}


def test_a_path_set_by_hand_is_not_probed():
    model = KmerModel()
    set_kmer_conv_path(model, "plain")
    assert probe.candidates(model, CUDA, "fp32", "fp32") == [(None, "fp32")]


@pytest.mark.parametrize("best", [("lookup", "fp32"), ("plain", "fp32"), ("lookup", "bf16")])
def test_precision_and_path_are_chosen_together(best):
    seconds = {(p, q): 0.05 for p in ("plain", "lookup") for q in ("fp32", "bf16")}
    seconds[best] = 0.02
    step, _ = fake_timer(seconds)
    choice = probe.choose(KmerModel(), CUDA, "auto", "bf16", step)
    assert (choice["kmer_conv_path"], choice["precision"]) == best
    assert len(choice["probe"]["seconds_per_step"]) == 4


def test_a_tie_keeps_bf16_with_the_lookup():
    step, _ = fake_timer({(p, q): 0.03 for p in ("plain", "lookup") for q in ("fp32", "bf16")})
    choice = probe.choose(KmerModel(), CUDA, "auto", "bf16", step)
    assert (choice["kmer_conv_path"], choice["precision"]) == ("lookup", "bf16")


def test_the_batch_meter_syncs_losses_in_groups_and_reports_when_due():
    seen = []
    meter = trainer._BatchMeter(1, 100, seen.append, report_seconds=3600.0, sync_every=4)
    for value in range(1, 7):
        meter.add(torch.tensor(float(value)), 10)
    assert len(seen) == 1 and seen[0]["loss"] == 1.0  # the first batch reports; the next is not due yet
    assert meter.losses == [1.0, 2.0, 3.0, 4.0, 5.0] and len(meter.pending) == 1  # flushed at the report and at 4 pending
    assert meter.mean_loss == 3.5 and meter.items == 60


@pytest.mark.parametrize("name", ["adam", "nadam", "rmsprop", "sgd"])
def test_cuda_optimizers_are_fused_or_multi_tensor(name):
    from epizoo.zoo import TrainingRecipe

    parameters = [nn.Parameter(torch.zeros(2))]
    on_gpu = trainer.make_optimizer(TrainingRecipe(optimizer=name), parameters, device=CUDA).defaults
    assert on_gpu.get("fused") or on_gpu.get("foreach")
    on_cpu = trainer.make_optimizer(TrainingRecipe(optimizer=name), parameters).defaults
    assert not on_cpu.get("fused") and not on_cpu.get("foreach")  # the CPU keeps what was measured


# ---- the choice in a training run ---------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("probe") / "tiny.zarr"
    ds = epizoo.simulate_store(path, n_pairs=60, n_contigs=3, cell_lines=1, ratio=2, seed=3)
    fold = get_split("loco").function(ds)[0]
    return str(path), Sides(*(np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)))


@pytest.fixture(autouse=True)
def offline_vectors(shared_data, monkeypatch):
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))


def as_if_on_cuda(monkeypatch, winner: tuple[str, str], seen: list):
    """The probe on CPU as it runs on CUDA: the real steps of a model copy, with faked timings."""
    real = probe.choose

    def choose(model, device, precision, resolved, step):
        def timed(path, prec):
            step(path, prec)  # the trainer's real step timer: a training step on a copy
            seen.append((path, prec))
            return 0.01 if (path, prec) == winner else 0.05

        return real(model, CUDA, precision, resolved, timed, warmup=0, steps=1)

    monkeypatch.setattr(trainer, "choose", choose)


def options(**overrides) -> TrainOptions:
    return TrainOptions(**{"tiny": True, "epochs": 1, "batch_size": 8, "max_pairs": 16, "device": "cpu", **overrides})


def test_the_choice_and_its_timings_are_in_the_summary(store, monkeypatch):
    path, sides = store
    seen = []
    as_if_on_cuda(monkeypatch, ("lookup", "fp32"), seen)
    result = train_fold(get_model("epivan"), path, sides, options())
    summary = result.summary
    assert summary["kmer_conv_path"] == "lookup" and summary["precision"] == "fp32"
    assert set(summary["probe"]["seconds_per_step"]) == {"plain/fp32", "lookup/fp32", "plain/bf16", "lookup/bf16"}
    assert summary["probe"]["seconds_per_step"]["lookup/fp32"] == 0.01 and summary["probe"]["seconds"] >= 0
    assert set(seen) == {("plain", "fp32"), ("lookup", "fp32"), ("plain", "bf16"), ("lookup", "bf16")}


def test_the_probe_leaves_the_weights_and_random_stream_alone(store, monkeypatch):
    path, sides = store
    plain = train_fold(get_model("epivan"), path, sides, options())
    assert plain.summary["probe"] is None and plain.summary["kmer_conv_path"] == "lookup"
    as_if_on_cuda(monkeypatch, ("lookup", "fp32"), [])  # the same path and precision, chosen after the probe's steps
    probed = train_fold(get_model("epivan"), path, sides, options())
    assert probed.summary["probe"] is not None
    np.testing.assert_array_equal(probed.test_scores, plain.test_scores)


def test_a_model_chosen_bf16_trains_in_bf16(store, monkeypatch):
    path, sides = store
    as_if_on_cuda(monkeypatch, ("plain", "bf16"), [])
    result = train_fold(get_model("epivan"), path, sides, options())
    assert result.summary["precision"] == "bf16" and result.summary["kmer_conv_path"] == "plain"
