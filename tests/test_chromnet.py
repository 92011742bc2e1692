"""ChromNet (a contact-map model), its trainer (epizoo.training.contact) and metrics (epizoo.contact.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from epizoo.contact import metrics as cm
from epizoo.errors import EmptyResultError, EpizooError, UnknownNameError
from epizoo.plugins import get_model
from epizoo.contact import train as contact_train, windows as contact_windows


class FakeGenome:
    """A small genome with the genome layer's methods (``ds.epizoo`` of a store with a genome layer).

    Rule: random sequence; CTCF-like sites every ~12 kb, 60% bound in every cell line and the rest
    at random per cell line; CTCF and ATAC tracks with Gaussian peaks at bound sites over exponential
    noise (0.1% NaN); maps = 10 / (d + 1) + 3 / sqrt(d + 1) inside the domains between bound sites."""

    def __init__(self, n_contigs=4, length=200_000, bin_size=2_000, cells=("A", "B"), maps=("A", "B"), seed=0):
        rng = np.random.default_rng(seed)
        self.contact_bin_size = bin_size
        self.lengths = {f"chr{i + 1}": length for i in range(n_contigs)}
        self.cells, self.map_cells = list(cells), list(maps)
        self.codes = {c: rng.integers(0, 4, size=n, dtype=np.int8) for c, n in self.lengths.items()}
        self.tracks, self.maps = {}, {}
        for contig, n in self.lengths.items():
            sites = np.sort(rng.choice(np.arange(5_000, n - 5_000, 1_000), size=n // 12_000, replace=False))
            common = rng.random(len(sites)) < 0.6
            for cell in cells:
                bound = sites[common | (rng.random(len(sites)) < 0.5)]
                self.tracks[cell, "CTCF", contig] = self._peaks(n, bound, 10.0, rng)
                self.tracks[cell, "ATAC", contig] = self._peaks(n, np.concatenate([bound, rng.choice(n, 10)]), 4.0, rng)
                self.maps[cell, contig] = self._map(n, bound)

    @staticmethod
    def _peaks(n, positions, height, rng):
        values = rng.exponential(0.2, size=n).astype(np.float32)
        shape = height * np.exp(-0.5 * (np.arange(-300, 301) / 100.0) ** 2)
        for p in positions:
            lo, hi = max(0, p - 300), min(n, p + 301)
            values[lo:hi] += shape[lo - p + 300 : hi - p + 300]
        values[rng.random(n) < 0.001] = np.nan
        return values

    def _map(self, n, bound):
        bins = -(-n // self.contact_bin_size)
        d = np.abs(np.subtract.outer(np.arange(bins), np.arange(bins))).astype(np.float64)
        domain = np.searchsorted(np.unique(np.concatenate([[0], bound // self.contact_bin_size, [bins]])), np.arange(bins), side="right")
        same = domain[:, None] == domain[None, :]
        return (10.0 / (d + 1) + 3.0 * same / np.sqrt(d + 1)).astype(np.float32)

    def genome_contigs(self):
        return dict(self.lengths)

    def track_names(self):
        return [(cell, mark) for cell in self.cells for mark in ("CTCF", "ATAC")]

    def contact_cell_lines(self):
        return list(self.map_cells)

    def sequence(self, contig, start, end):
        return self.codes[contig][start:end].copy()

    def track(self, cell, mark, contig, start, end):
        return self.tracks[cell, mark, contig][start:end].copy()

    def contacts(self, cell, contig, start, end):
        lo, hi = start // self.contact_bin_size, -(-end // self.contact_bin_size)
        return self.maps[cell, contig][lo:hi, lo:hi].copy()


SPEC = get_model("chromnet")


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---- the model ----------------------------------------------------------------------------------
def test_default_size_has_upstreams_parameter_count_part_by_part():
    with torch.device("meta"):  # 69.6 M parameters, no memory
        model = SPEC.build()
    assert parameters(model) == SPEC.published_parameters == 69_601_628
    parts = {name: parameters(getattr(model, name)) for name in ("encoder", "pairwise", "decoder", "classifier")}
    assert parts == {"encoder": 99_312, "pairwise": 395_264, "decoder": 1_627_945, "classifier": 67_479_107}
    assert SPEC.hparams()["window_length"] == 2_097_152 and SPEC.hparams()["n_bins"] == 256


@pytest.mark.slow
def test_tiny_model_gives_maps_and_logits_and_learns_from_both():
    torch.manual_seed(0)
    model = SPEC.build(tiny=True)
    x = torch.randn(2, 7, SPEC.hparams(tiny=True)["window_length"])
    maps, logits = model(x)
    assert maps.shape == (2, 16, 16) and logits.shape == (2, 3)
    (maps.square().mean() + logits.logsumexp(1).mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # the LSTM starts as upstream's: Xavier-uniform weights, zero biases
    assert all(float(b.detach().abs().max()) == 0 for name, b in model.pairwise.lstm.named_parameters() if "bias" in name)


def test_a_window_too_short_for_the_bins_is_one_line():
    with pytest.raises(EpizooError, match="give a window of at least 15001 bp"):
        SPEC.build(tiny=True, window_length=10_000)
    with pytest.raises(EpizooError, match="multiple of 4"):
        SPEC.build(tiny=True, n_bins=18)


def test_a_spec_with_an_unknown_task_is_refused():
    from dataclasses import replace

    with pytest.raises(ValueError, match="task must be one of pair, contact-map"):
        replace(SPEC, task="contacts")


# ---- inputs, targets, losses ---------------------------------------------------------------------
def test_track_transform_is_upstreams():
    values = np.array([np.nan, -3.0, 0.0, 1.0, math.e - 1], dtype=np.float32)
    out = contact_windows.transform_track(values)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1e-10, 1e-10, 1e-10, math.log(2), 1.0], rtol=1e-6)


def test_one_hot_has_an_n_channel():
    out = contact_windows.one_hot(np.array([0, 1, 2, 3, 4], dtype=np.int8))
    np.testing.assert_array_equal(out, np.eye(5, dtype=np.float32))


def test_targets_are_resized_then_logged():
    flat = contact_windows.map_target(np.full((13, 13), math.e - 1, dtype=np.float32), 16)
    assert flat.shape == (16, 16)
    np.testing.assert_allclose(flat, 1.0, rtol=1e-5)  # a constant map stays constant through the resize
    ramp = contact_windows.map_target(np.tile(np.arange(20, dtype=np.float32), (20, 1)), 10)
    assert (np.diff(ramp, axis=1) > 0).all()  # order is kept


def test_loss_masks_follow_upstream():
    """No MSE for a window without a map, no cross-entropy for a noise copy."""
    maps = torch.zeros(3, 4, 4, requires_grad=True)
    logits = torch.zeros(3, 2, requires_grad=True)
    targets = torch.ones(3, 4, 4)
    labels = torch.tensor([0, 1, -100])
    has_map = torch.tensor([True, False, True])
    classify = torch.tensor([True, True, False])
    loss, mse, ce = contact_train.contact_loss(maps, logits, targets, labels, has_map, classify)
    loss.backward()
    assert mse.item() == pytest.approx(1.0) and ce.item() == pytest.approx(math.log(2))
    assert float(maps.grad[1].abs().sum()) == 0  # the window without a map
    assert float(logits.grad[2].abs().sum()) == 0  # the noise copy
    assert float(maps.grad[2].abs().sum()) > 0 and float(logits.grad[1].abs().sum()) > 0
    nothing = contact_train.contact_loss(maps, logits, targets, labels, torch.zeros(3, dtype=bool), torch.zeros(3, dtype=bool))
    assert nothing[0].item() == 0


def test_noise_copy_scales_its_target_by_the_track_correlation():
    rng = np.random.default_rng(3)
    tracks = rng.exponential(1.0, size=(2, 500)).astype(np.float32)
    target = rng.random((4, 4)).astype(np.float32)
    noisy, scaled = contact_windows.noisy_copy(tracks, target, np.random.default_rng(5), sigma=0.5)
    r = np.corrcoef(tracks.ravel(), noisy.ravel())[0, 1]
    assert 0.5 < r < 0.99
    np.testing.assert_allclose(scaled, target * r, rtol=1e-5)
    np.testing.assert_allclose(noisy - tracks, np.random.default_rng(5).standard_normal(tracks.shape) * 0.5, atol=1e-5)


def test_windows_carry_the_masks_and_the_noise_copy_reads_its_cell_line():
    genome = FakeGenome(n_contigs=3, length=100_000, maps=("A",))
    marks = contact_windows.track_marks(genome, ("CTCF", "ATAC"), ["A", "B"])
    windows = [contact_windows.Window("A", "chr1", 0), contact_windows.Window("B", "chr1", 0), contact_windows.Window("A_noise", "chr1", 0)]
    data = contact_windows.ContactWindows(genome, windows, marks, 32_768, 16, {"A": 0, "B": 1}, {"A"}, step=8_192)
    (xa, ta, la, ma, ca), (xb, tb, lb, mb, cb), (xn, tn, ln, mn, cn) = (data[i] for i in range(3))
    assert xa.shape == (7, 32_768) and ta.shape == (16, 16)
    assert (int(la), bool(ma), bool(ca)) == (0, True, True)
    assert (int(lb), bool(mb), bool(cb)) == (1, False, True) and float(tb.abs().sum()) == 0  # B has no map
    assert (bool(mn), bool(cn)) == (True, False)  # the noise copy: MSE, no class
    np.testing.assert_array_equal(xa[:5].numpy(), contact_windows.one_hot(genome.sequence("chr1", 0, 32_768)))
    np.testing.assert_allclose(xa[5].numpy(), contact_windows.transform_track(genome.track("A", "CTCF", "chr1", 0, 32_768)))
    assert 0 < float(tn.max()) < float(ta.max()) * 1.2  # scaled by a correlation < 1 (at a shifted start)


def test_the_imr90_quirk_reads_every_target_from_one_cell_line():
    genome = FakeGenome(n_contigs=3, length=100_000)
    marks = contact_windows.track_marks(genome, ("CTCF", "ATAC"), ["A", "B"])
    windows = [contact_windows.Window("A", "chr2", 16_384), contact_windows.Window("B", "chr2", 16_384)]
    plain = contact_windows.ContactWindows(genome, windows, marks, 32_768, 16, {"A": 0, "B": 1}, {"A", "B"})
    quirk = contact_windows.ContactWindows(genome, windows, marks, 32_768, 16, {"A": 0, "B": 1}, {"A", "B"}, contacts_from="A")
    assert not torch.equal(plain[0][1], plain[1][1])  # each cell line its own map
    assert torch.equal(quirk[1][1], plain[0][1]) and not bool(quirk[1][3]) and bool(quirk[0][3])


def test_missing_tracks_and_unknown_cell_lines_are_one_line():
    genome = FakeGenome(n_contigs=3, length=60_000)
    with pytest.raises(EpizooError, match="cell line A has no H3K27ac track, which the model reads; it has ATAC, CTCF"):
        contact_windows.track_marks(genome, ("CTCF", "H3K27ac"), ["A"])
    with pytest.raises(UnknownNameError, match="unknown cell line 'C'"):
        contact_train.train_contact_model(SPEC, genome, contact_train.ContactOptions(tiny=True, cell_lines=["C"]))
    with pytest.raises(EpizooError, match="predicts pairs, not contact maps"):
        contact_train.train_contact_model(get_model("epivan"), genome)


def test_chromosome_splits():
    human = [f"chr{i}" for i in range(1, 23)] + ["chrX"]
    sides = contact_windows.chromosome_split(human)
    assert sides["train"][-1] == "chr16" and sides["valid"] == ["chr17", "chr18", "chr19"] and sides["test"] == ["chr20", "chr21", "chr22"]
    small = contact_windows.chromosome_split(["chr10", "chr2", "chr1", "chrX"])
    assert small == {"train": ["chr1", "chr2"], "valid": ["chr10"], "test": ["chrX"]}
    assert contact_windows.chromosome_split(human, {"train": ["chr1"], "test": ["chr2"]})["valid"] == []
    with pytest.raises(UnknownNameError, match="chr99"):
        contact_windows.chromosome_split(human, {"train": ["chr99"], "test": ["chr2"]})
    with pytest.raises(EmptyResultError, match="needs 3 contigs"):
        contact_windows.chromosome_split(["chr1", "chr2"])


def test_warmup_then_cosine():
    factors = [contact_train.warmup_cosine(e, 10, 80) for e in range(80)]
    assert factors[0] == 0 and factors[9] == pytest.approx(1.0) and factors[10] == pytest.approx(1.0)
    assert factors[45] == pytest.approx(0.5) and factors[79] < 0.01
    assert contact_train.warmup_cosine(0, 0, 5) == 1.0


# ---- metrics and the baseline ---------------------------------------------------------------------
def toeplitz(profile):
    n = len(profile)
    return np.asarray(profile, dtype=float)[np.abs(np.subtract.outer(np.arange(n), np.arange(n)))]


def two_domains(n=16, boundary=8):
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    same = (np.arange(n)[:, None] < boundary) == (np.arange(n)[None, :] < boundary)
    return np.log1p(5.0 / (d + 1) + 4.0 * same)


def test_a_perfect_prediction_scores_one():
    observed = np.stack([two_domains(), two_domains(boundary=5)])
    scores = cm.score_maps(observed, observed)
    assert scores["map_pearson"] == pytest.approx(1) and scores["diagonal_pearson"] == pytest.approx(1)
    assert scores["insulation_pearson"] == pytest.approx(1) and scores["mse"] == 0 and scores["n_windows"] == 2


def test_diagonal_correlation_on_a_known_case():
    rng = np.random.default_rng(0)
    observed = rng.random((8, 8))
    predicted = observed.copy()
    predicted[np.arange(7), np.arange(1, 8)] *= -1  # diagonal 1 anti-correlated, the rest exact
    curve = cm.diagonal_pearson(predicted, observed)
    assert curve[0] == pytest.approx(1) and curve[1] == pytest.approx(-1) and curve[2] == pytest.approx(1)
    assert math.isnan(curve[-1]) and math.isnan(curve[-2])  # 1 and 2 values: no correlation
    both = cm.diagonal_pearson(np.stack([predicted, observed]), np.stack([observed, observed]))
    assert both[1] == pytest.approx(0)  # the mean over windows of -1 and 1


def test_insulation_dips_at_a_domain_boundary():
    scores = cm.insulation(two_domains(boundary=8), window=3)
    assert np.isnan(scores[:2]).all() and np.isnan(scores[-3:]).all()
    assert int(np.nanargmin(scores)) == 7  # the last bin before the boundary
    assert np.nanmax(scores) > 0 > np.nanmin(scores)  # log2 ratio to the mean
    assert cm.insulation_window(256) == 10 and cm.insulation_window(16) == 2
    shifted = cm.insulation_pearson(two_domains(boundary=6), two_domains(boundary=8), window=3)
    assert shifted[0] < 0.9


def test_distance_decay_baseline():
    maps = np.stack([toeplitz([4, 2, 1, 0.5]), toeplitz([2, 2, 1, 1.5])])
    decay = cm.DistanceDecay().fit(maps)
    np.testing.assert_allclose(decay.profile, [3, 2, 1, 1])
    predicted = decay.predict(3)
    assert predicted.shape == (3, 4, 4)
    np.testing.assert_allclose(predicted[0], toeplitz([3, 2, 1, 1]))
    observed = np.stack([two_domains()])
    scores = cm.score_maps(cm.DistanceDecay().fit(observed).predict(1), observed)
    assert scores["map_pearson"] > 0.5  # the decay explains much of a map...
    assert math.isnan(scores["diagonal_pearson"]) and math.isnan(scores["insulation_pearson"])  # ...and nothing else


# ---- the bench and the short training -------------------------------------------------------------
def test_train_contacts_on_a_store_without_a_genome_layer_is_one_line(tmp_path):
    from click.testing import CliRunner

    import epizoo
    from epizoo.cli import cli

    store = tmp_path / "pairs.zarr"
    epizoo.simulate_store(store, n_pairs=24, n_contigs=2, cell_lines=1, seed=0)
    result = CliRunner().invoke(cli, ["train-contacts", str(store), "--tiny", "-o", str(tmp_path / "run")])
    assert result.exit_code == 1 and "has no genome layer" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory, build_genome_store) -> str:
    """A synthetic store with a genome layer: 4 contigs of ~3 Mb (chr1-2 train, chr3 valid, chrX test),
    2 cell lines with CTCF and ATAC tracks and contact maps at 2 kb. Sites every ~12 kb that insulate
    (boundary 0.4) and deep maps (docs/datasets.md, "The genome layer"): a 32-kb window then holds
    domains the tracks explain and the distance decay does not."""
    return build_genome_store(tmp_path_factory.mktemp("contacts") / "synthetic.zarr", 40_000, n_pairs=60,
                              site_spacing=12000, contact_depth=50000, boundary=0.4)


EPOCHS, WINDOWS = 16, 32


@pytest.fixture(scope="module")
def trained(synthetic_store, tmp_path_factory):
    """``epizoo train-contacts --tiny`` for 16 epochs of 32 windows (batch 4: 8 steps an epoch) on the synthetic store."""
    from click.testing import CliRunner

    from epizoo.cli import cli

    out = tmp_path_factory.mktemp("contacts-run") / "run"
    args = ["train-contacts", synthetic_store, "--tiny", "--epochs", str(EPOCHS), "--warmup-epochs", "0", "--lr", "1e-3",
            "--batch-size", "4", "--max-pairs", str(WINDOWS), "--seed", "0", "--threads", "2", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "test map correlation" in result.output
    return out


@pytest.mark.slow
def test_short_training_beats_the_distance_decay_baseline_on_held_out_chromosomes(trained):
    """A tiny ChromNet, 16 epochs of 32 windows (about a minute of CPU), on the held-out contig's maps.

    It beats the distance-decay baseline on the map correlation (0.970 against 0.961 when written)
    and places structure along each diagonal and in insulation, where the baseline, constant per
    diagonal, has nothing to say (NaN). docs/results.md has the longer run. Also asserted: it learns
    (validation MSE falls well below its first value), the split and the noise copy are upstream's,
    and the baseline is scored on the same windows."""
    import json

    record = json.loads((trained / "metrics.json").read_text())
    valid = [epoch["valid_mse"] for epoch in record["history"]]
    assert len(valid) == EPOCHS and min(valid) < 0.5 * valid[0]
    summary = record["summary"]
    assert summary["split"] == {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chrX"]}
    assert summary["noise_copies"] == ["SYN-A_noise"] and summary["cell_types"] == ["SYN-A", "SYN-B"]
    assert summary["windows"] == {"train": WINDOWS, "valid": WINDOWS, "test": WINDOWS} and summary["bin_size"] == 2000
    model, baseline = record["model"], record["baseline"]
    assert model["n_windows"] == baseline["n_windows"] == WINDOWS
    assert model["map_pearson"] > baseline["map_pearson"] > 0.9
    assert model["mse"] < baseline["mse"]
    # the baseline has no per-diagonal or insulation signal: NaN, which JSON writes as null
    assert model["diagonal_pearson"] > 0.2 and baseline["diagonal_pearson"] is None
    assert model["insulation_pearson"] > 0.05 and baseline["insulation_pearson"] is None
    assert len(record["diagonal_pearson"]["model"]) == 16 and record["command"].startswith("epizoo train-contacts")


@pytest.mark.slow
def test_a_run_is_written_whole_and_its_checkpoint_loads(trained):
    from safetensors.torch import load_file

    from epizoo.inference import load_model

    model, spec = load_model(trained / "checkpoint")
    assert spec.name == "chromnet" and model.n_bins == 16 and model.window_length == 32_768
    weights = load_file(str(trained / "checkpoint" / "weights.safetensors"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(EpizooError, match="exists"):
        contact_train.write_contact_run(None, SPEC, trained)
    assert sorted(p.name for p in trained.parent.iterdir()) == ["run"]  # no work folder left behind


@pytest.mark.parametrize("asked, used", [("bf16", "bf16"), ("fp32", "fp32"), ("auto", "fp32")])
def test_the_precision_asked_is_used_and_recorded(asked, used, monkeypatch):
    """bf16 autocast only when asked (auto keeps float32 for contact models), in the summary either way."""
    seen = []
    real = contact_train._autocast
    monkeypatch.setattr(contact_train, "_autocast", lambda device, precision: seen.append(precision) or real(device, precision))
    options = contact_train.ContactOptions(tiny=True, epochs=1, batch_size=2, max_windows=4, noise_copies=[], device="cpu", precision=asked)
    result = contact_train.train_contact_model(SPEC, FakeGenome(), options)
    assert result.summary["precision"] == used and set(seen) == {used}
    assert np.isfinite(result.history[0]["train_loss"])


def test_an_unknown_precision_is_one_line():
    with pytest.raises(EpizooError, match="precision"):
        contact_train.train_contact_model(SPEC, FakeGenome(), contact_train.ContactOptions(tiny=True, precision="fp8"))


def test_the_bench_hands_its_precision_to_contact_models():
    from epizoo.bench.config import BenchConfig
    from epizoo.bench.contact_tasks import contact_options

    info = {"split": None, "train_cell_lines": ["A"], "test_cell_lines": ["A"]}
    config = BenchConfig(store="s.zarr", out="out", models=["chromnet"], precision="bf16")
    assert contact_options(config, info, "cpu").precision == "bf16"
