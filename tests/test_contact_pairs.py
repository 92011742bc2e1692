"""Scoring pairs with a contact-map model (epizoo.contact.pairs) and `epizoo predict` on its checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from epizoo.cli import cli
from epizoo.contact.pairs import contact_pair_result, contact_pair_scores, pair_anchors, track_cells
from epizoo.errors import EpizooError
from epizoo.plugins import get_model
from epizoo.store.io import open_store
from epizoo.contact import train as contact_train, windows as contact_windows

SPEC = get_model("chromnet")
WINDOW, BINS, STEP = 65_536, 32, 8_192  # the stand-in's geometry: 2,048 bp output bins


@pytest.fixture(scope="module")
def store(tmp_path_factory, build_genome_store) -> str:
    """A synthetic store with a genome layer: 4 contigs of ~3 Mb, 2 cell lines, 198 pairs, maps at 2 kb
    stored out to 300 kb (so every window's map is whole)."""
    return build_genome_store(tmp_path_factory.mktemp("contact-pairs") / "synthetic.zarr", 300_000, n_pairs=200)


class ObservedMaps:
    """A stand-in contact model: for each input window it returns the window's OBSERVED map, resized and
    logged as the trainer makes targets. It finds the window by its first bases (unique in random
    DNA) and the cell line by its CTCF track."""

    def __init__(self, genome, window: int, n_bins: int, step: int, key: int = 64):
        self.genome, self.window, self.n_bins, self.key = genome, window, n_bins, key
        self.cells = sorted({cell for cell, _ in genome.track_names()})
        self.index = {}
        for contig, length in genome.genome_contigs().items():
            codes = genome.sequence(contig, 0, length)
            for start in contact_windows.window_starts(length, window, step):
                self.index[codes[start : start + key].tobytes()] = (contig, start)

    def observed(self, cell: str, contig: str, start: int) -> np.ndarray:
        return contact_windows.map_target(self.genome.contacts(cell, contig, start, start + self.window), self.n_bins)

    def __call__(self, x: torch.Tensor):
        maps = []
        for one in x.numpy():
            contig, start = self.index[one[:5, : self.key].argmax(0).astype(np.int8).tobytes()]
            ctcf = {c: contact_windows.transform_track(self.genome.track(c, "CTCF", contig, start, start + self.key)) for c in self.cells}
            (cell,) = [c for c, values in ctcf.items() if np.array_equal(values, one[5, : self.key])]
            maps.append(self.observed(cell, contig, start))
        return torch.from_numpy(np.stack(maps)), None


DESCRIPTION = {"hparams": {"window_length": WINDOW, "n_bins": BINS}, "contact_training": {"step": STEP}}


@pytest.fixture(scope="module")
def observed(store):
    ds = open_store(store)
    model = ObservedMaps(ds.epizoo, WINDOW, BINS, STEP)
    pairs = np.arange(ds.sizes["pairs"])
    return ds, model, pairs, contact_pair_result(model, SPEC, DESCRIPTION, ds, pairs)


def brute_force(ds, model: ObservedMaps, pairs: np.ndarray) -> np.ndarray:
    """Every window start on the grid, every pair: the observed contact at the pair's bins, averaged."""
    anchors = pair_anchors(ds, pairs)
    lengths = ds.epizoo.genome_contigs()
    out = np.full(len(pairs), np.nan)
    for row in range(len(pairs)):
        contig, a, b = str(anchors["enhancer_contig"][row]), int(anchors["enhancer"][row]), int(anchors["promoter"][row])
        if contig != str(anchors["promoter_contig"][row]):
            continue
        values = [
            model.observed(str(anchors["cell_line"][row]), contig, s)[(a - s) * BINS // WINDOW, (b - s) * BINS // WINDOW]
            for s in range(0, lengths[contig] - WINDOW + 1, STEP) if s <= min(a, b) and max(a, b) < s + WINDOW
        ]
        out[row] = np.mean(values) if values else np.nan
    return out


def test_observed_stand_in_scores_are_the_observed_contact_averaged_over_covering_windows(observed):
    ds, model, pairs, result = observed
    expected = brute_force(ds, model, pairs)
    np.testing.assert_array_equal(np.isnan(result.scores), np.isnan(expected))
    np.testing.assert_allclose(result.scores, expected, rtol=1e-6)
    scored = int(np.isfinite(result.scores).sum())
    assert scored > 40 and sum(result.unscored.values()) == len(pairs) - scored
    assert result.window_length == WINDOW and result.step == STEP  # the training step, from the checkpoint
    assert 0 < result.windows < scored * WINDOW // STEP  # windows shared by pairs run once


def test_far_pairs_are_nan_and_counted(observed):
    ds, _, pairs, result = observed
    anchors = pair_anchors(ds, pairs)
    far = np.abs(anchors["enhancer"] - anchors["promoter"]) >= WINDOW
    assert far.any() and np.isnan(result.scores[far]).all() and result.unscored["too_far"] == int(far.sum())
    assert f"{int(far.sum())} farther apart than a window" in result.note()


def test_pairs_across_contigs_or_off_the_genome_layer_are_nan_and_counted(observed):
    ds, model, pairs, _ = observed
    moved = ds.copy()
    first = int(ds["pair_enhancer"].values[0])  # this enhancer now lies on another contig than its promoters
    contigs = ds["enhancer_contig"].values.copy()
    contigs[first] = (contigs[first] + 1) % ds.sizes["contigs"]
    moved["enhancer_contig"] = ds["enhancer_contig"].copy(data=contigs)
    names = ds["contig_id"].values.astype(object).copy()
    lost = int(ds["promoter_contig"].values[ds["pair_promoter"].values[-1]])  # a contig the genome layer lacks
    names[lost] = "chrZ"
    moved["contig_id"] = ds["contig_id"].copy(data=names)
    result = contact_pair_result(model, SPEC, DESCRIPTION, moved, pairs)
    anchors = pair_anchors(moved, pairs)
    across = anchors["enhancer_contig"] != anchors["promoter_contig"]
    missing = ~across & (anchors["enhancer_contig"] == "chrZ")
    assert across.sum() >= 1 and missing.sum() >= 1
    assert result.unscored["across_contigs"] == int(across.sum()) and result.unscored["contig_missing"] == int(missing.sum())
    assert np.isnan(result.scores[across | missing]).all()


def test_observed_contact_follows_distance_not_the_labels(observed):
    """The synthetic loops join CTCF-like sites placed between elements; the pair labels come from
    motif classes. So the observed contact tracks distance (the map's decay) and says little about
    the label: AUROC about 0.55 here on ~55 pairs, which is not asserted."""
    from scipy.stats import spearmanr

    ds, _, pairs, result = observed
    ok = np.isfinite(result.scores)
    anchors = pair_anchors(ds, pairs)
    distance = np.abs(anchors["enhancer"] - anchors["promoter"])[ok]
    assert spearmanr(result.scores[ok], distance).statistic < -0.4


def test_tracks_come_from_the_pair_cell_line_else_the_named_one():
    genome = SimpleNamespace(track_names=lambda: [("A", "CTCF"), ("A", "ATAC"), ("B", "CTCF")])
    assert track_cells(genome, SPEC, np.array(["A", "A"], dtype=object), None) == {"A": "A"}
    assert track_cells(genome, SPEC, np.array(["A", "B"], dtype=object), "A") == {"A": "A", "B": "A"}
    with pytest.raises(EpizooError, match="no CTCF/ATAC tracks of pair cell line B.*--tracks-of"):
        track_cells(genome, SPEC, np.array(["A", "B"], dtype=object), None)
    with pytest.raises(EpizooError, match="cell line B has no ATAC track"):
        track_cells(genome, SPEC, np.array(["A"], dtype=object), "B")


# ---- a ChromNet checkpoint through `epizoo predict` -------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(store, tmp_path_factory):
    """An untrained, seeded tiny ChromNet written as train-contacts writes its run (the plumbing, not
    the skill), recording windows every 16,384 bp as its training step."""
    hparams = SPEC.hparams(tiny=True, n_tracks=2, n_cell_types=2)
    torch.manual_seed(0)
    state = SPEC.factory(**hparams).state_dict()
    result = contact_train.ContactResult({}, {}, {}, [], state, {"hparams": hparams, "step": 16_384})
    out = tmp_path_factory.mktemp("chromnet") / "run"
    contact_train.write_contact_run(result, SPEC, out, command="epizoo train-contacts")
    return out / "checkpoint"


@pytest.mark.slow
def test_predict_with_a_chromnet_checkpoint_writes_the_prediction_table(store, checkpoint, tmp_path):
    from epizoo.bench.task import PREDICTION_COLUMNS
    from epizoo.checkpoint import load_checkpoint_model
    from epizoo.inference import predict_pairs

    out = tmp_path / "scores.tsv"
    result = CliRunner().invoke(cli, ["predict", store, "--checkpoint", str(checkpoint), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "pairs have no score (NaN)" in result.output and "scored 198 pairs with chromnet" in result.output
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert any("predicted log(1 + contact)" in line for line in header)
    table = pd.read_csv(out, sep="\t", comment="#")
    assert list(table.columns) == list(PREDICTION_COLUMNS) and len(table) == 198
    model, spec, description = load_checkpoint_model(checkpoint)
    ds = open_store(store)
    scored = table[table["score"].notna()]
    assert 5 <= len(scored) < 30  # the tiny window (32,768 bp) reaches only the close pairs
    assert (scored["distance"] < 32_768).all() and scored["score"].nunique() > 1
    some = scored.iloc[:3]
    direct = contact_pair_scores(model, spec, description, ds, some["pair"].to_numpy())
    np.testing.assert_allclose(some["score"].to_numpy(), direct, atol=1e-6)  # the CLI is the Python path
    _, _, dispatched = predict_pairs(model, spec, description, store, some["pair"].to_numpy())
    np.testing.assert_allclose(dispatched, direct)  # predict_pairs hands a contact-map model over
    np.testing.assert_array_equal(table["label"].to_numpy(), ds["pair_label"].values[table["pair"].to_numpy()])


def test_a_store_without_a_genome_layer_is_one_line(checkpoint, tmp_path):
    import epizoo

    store = tmp_path / "pairs.zarr"
    epizoo.simulate_store(store, n_pairs=24, n_contigs=2, cell_lines=1, seed=0)
    out = tmp_path / "scores.tsv"
    result = CliRunner().invoke(cli, ["predict", str(store), "--checkpoint", str(checkpoint), "-o", str(out)])
    assert result.exit_code == 1 and "no genome layer" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
