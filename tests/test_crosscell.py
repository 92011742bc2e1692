"""Per-cell-line normalisation of signals, its feature groups, and crosscell-xgb, the model built on them.

The properties that make the normalisation honest across cell lines: no statistic crosses from one
cell line to another, none comes from labels, and at fit time none comes from the pairs scored later.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from epizoo.errors import EpizooError
from epizoo.model_inputs import sklearn_features, wants_cell_line
from epizoo_zoo import cell_line_norm
from epizoo_zoo.cell_line_norm import NORMALISATIONS, normalise_by_cell_line, transfer_features
from epizoo_zoo.crosscell_xgb import CROSSCELL_XGB_SPEC as SPEC
from epizoo_zoo.crosscell_xgb import crosscell_features
from epizoo_zoo.signals import DEFAULT_SIGNAL_MARKS, SIGNAL_REGIONS

MARKS, REGIONS = DEFAULT_SIGNAL_MARKS, SIGNAL_REGIONS
ACETYL, ENHANCER = MARKS.index("H3K27ac"), 0


def cell_lines(pairs: int, scales=(1.0, 8.0), seed: int = 0):
    """Signals of len(scales) cell lines whose peak files differ only in scale; a pair is positive
    when its enhancer's H3K27ac is in the top third of its own cell line."""
    rng = np.random.default_rng(seed)
    line = np.repeat(np.arange(len(scales)), pairs)
    signals = rng.gamma(1.0, 1e-3, size=(len(line), len(MARKS), len(REGIONS)))
    signals[rng.random(signals.shape) < 0.3] = 0.0  # no peak: a zero, as in the feature tables
    labels = np.zeros(len(line), dtype=np.int64)
    for number, scale in enumerate(scales):
        rows = line == number
        acetyl = signals[rows, ACETYL, ENHANCER]
        labels[rows] = acetyl > np.quantile(acetyl, 2 / 3)
        signals[rows] *= scale
    distance = rng.integers(10_000, 1_000_000, size=len(line))
    return signals, distance, line, labels


@pytest.mark.parametrize("method", NORMALISATIONS)
def test_a_cell_line_is_normalised_by_its_own_pairs_only(method):
    signals, _, line, _ = cell_lines(200)
    before = normalise_by_cell_line(signals, line, method)
    changed = signals.copy()
    changed[line == 1] = changed[line == 1] ** 2 * 50 + 3  # another cell line, other values entirely
    after = normalise_by_cell_line(changed, line, method)
    np.testing.assert_array_equal(before[line == 0], after[line == 0])
    assert not np.allclose(before[line == 1], after[line == 1]) or method != "none"


@pytest.mark.parametrize("method", ("log1p", "rank", "zscore"))
def test_a_cell_line_on_another_scale_normalises_to_the_same_values(method):
    signals, _, _, _ = cell_lines(300, scales=(1.0,))
    both = np.concatenate([signals, signals * 8.0])
    line = np.repeat([0, 1], len(signals))
    normalised = normalise_by_cell_line(both, line, method)
    np.testing.assert_allclose(normalised[line == 0], normalised[line == 1], rtol=1e-9, atol=1e-12)


def test_rank_is_the_mid_rank_fraction_and_ties_share_it():
    column = np.array([[0.0], [0.0], [2.0], [1.0]])
    np.testing.assert_allclose(cell_line_norm.normalise_columns(column, "rank")[:, 0], [0.375, 0.375, 1.0, 0.75])


def test_unknown_choices_are_one_clear_error():
    signals, _, line, _ = cell_lines(10)
    with pytest.raises(EpizooError, match="unknown signal normalisation 'quantiles'"):
        normalise_by_cell_line(signals, line, "quantiles")
    with pytest.raises(EpizooError, match="unknown feature group"):
        transfer_features(signals, signals, REGIONS, ("flanks",))
    with pytest.raises(EpizooError, match="needs the store's 'window' signal region"):
        transfer_features(signals[:, :, :2], signals[:, :, :2], ("enhancer", "promoter"), ("window-contrast",))
    with pytest.raises(EpizooError, match="unknown signal normalisation"):
        SPEC.build(normalisation="quantile")


def test_feature_groups_add_their_columns():
    signals, distance, line, _ = cell_lines(50)
    normalised = normalise_by_cell_line(signals, line, "rank")
    marks = len(MARKS)
    log = np.log10(distance + 1.0)
    assert transfer_features(signals, normalised, REGIONS, (), log).shape[1] == marks * 3 + 1
    assert transfer_features(signals, normalised, REGIONS, ("products",), log).shape[1] == marks * 5 + 1
    assert transfer_features(signals, normalised, REGIONS, ("window-contrast",), None).shape[1] == marks * 4
    presence = transfer_features(signals, normalised, REGIONS, ("presence",), None)
    np.testing.assert_array_equal(presence[:, marks * 3:marks * 6], (signals > 0).reshape(len(signals), -1))
    np.testing.assert_array_equal(presence[:, -2], (signals[:, :, 0] > 0).sum(1))
    bins = transfer_features(signals, normalised, REGIONS, (), np.array([3.0, 4.2, 5.9, 6.5] * 25), "bins")
    np.testing.assert_array_equal(bins[:4, -1], [0, 1, 4, 5])


def fitted(signals, distance, line, labels, **overrides):
    return SPEC.build(tiny=True, **overrides).fit(crosscell_features(signals, distance, line), labels)


def test_labels_never_reach_the_normalisation():
    signals, distance, line, labels = cell_lines(200)
    rows = crosscell_features(signals, distance, line)
    one = fitted(signals, distance, line, labels)
    other = fitted(signals, distance, line, np.random.default_rng(1).permutation(labels))
    np.testing.assert_array_equal(one.transform(rows), other.transform(rows))
    np.testing.assert_array_equal(one.transform(rows), SPEC.build(tiny=True).transform(rows))  # no fitted state


def test_a_cell_lines_scores_do_not_depend_on_the_other_cell_lines_scored_with_it():
    signals, distance, line, labels = cell_lines(200, scales=(1.0, 8.0, 0.1))
    train = line < 2
    model = fitted(signals[train], distance[train], line[train], labels[train])
    alone = model.predict_proba(crosscell_features(signals[line == 2], distance[line == 2], line[line == 2]))[:, 1]
    together = model.predict_proba(crosscell_features(signals, distance, line))[:, 1][line == 2]
    np.testing.assert_allclose(alone, together)


def test_it_transfers_to_a_cell_line_on_another_scale_where_raw_trees_do_not():
    """Positives are the top third of each cell line's own H3K27ac; the test cell line's peaks are
    100 times weaker. Normalised within cell lines the rule carries over; raw, every test pair looks
    like a training negative."""
    signals, distance, line, labels = cell_lines(400, scales=(1.0, 2.0, 0.01))
    train, test = line < 2, line == 2
    aurocs = {}
    for method in ("none", "rank"):
        model = fitted(signals[train], distance[train], line[train], labels[train], normalisation=method)
        aurocs[method] = roc_auc_score(labels[test], model.predict_proba(crosscell_features(signals[test], distance[test], line[test]))[:, 1])
    assert aurocs["rank"] > 0.9 and aurocs["none"] < 0.7, aurocs


def test_too_few_pairs_of_a_cell_line_are_refused_not_normalised():
    signals, distance, line, labels = cell_lines(200)
    model = SPEC.build(n_estimators=5).fit(crosscell_features(signals, distance, line), labels)
    with pytest.raises(EpizooError, match="needs at least 100 of each; got cell line 0 \\(10\\)"):
        model.predict_proba(crosscell_features(signals[:10], distance[:10], line[:10]))


def test_the_trainer_passes_the_cell_line_to_features_that_ask_for_it():
    signals, distance, line, _ = cell_lines(5)
    batch = {"signals": signals, "distance": distance, "cell_line": line}
    assert wants_cell_line(SPEC)
    np.testing.assert_array_equal(sklearn_features(SPEC, batch)[:, -1], line)
    from epizoo_zoo.targetfinder import TARGETFINDER_XGB_SPEC

    assert not wants_cell_line(TARGETFINDER_XGB_SPEC)
    assert sklearn_features(TARGETFINDER_XGB_SPEC, batch).shape == (len(line), len(MARKS) * 3 + 1)


def test_crosscell_xgb_is_registered_with_its_chosen_recipe_and_card():
    from epizoo.plugins import get_model

    spec = get_model("crosscell")  # by its alias
    assert spec.name == "crosscell-xgb" and spec.kind == "sklearn" and spec.inputs == ("signals",)
    model = spec.build()
    assert model.normalisation in NORMALISATIONS and model.min_cell_line_pairs == 100
    assert "validation inside the training cell lines" in spec.card.port_deviations
    assert "Transductive" in spec.card.notes


# ---------------------------------------------------------------- a normalised store, and through epizoo bench


@pytest.fixture(scope="module")
def signal_store(tmp_path_factory):
    """A signals-only store of 2 synthetic cell lines; cell line 1's table is 10 times the scale of 0's."""
    import pandas as pd

    from epizoo.datasets.base import DatasetRequest
    from epizoo.datasets.synthetic import simulate
    from epizoo.store.build import build_store

    loaded = simulate(DatasetRequest(seed=3, options={"n_pairs": 600, "n_contigs": 6, "cell_lines": 2}))
    pairs, rng = loaded.pairs, np.random.default_rng(0)
    name = lambda c, s, e, cell: f"{c}:{s}-{e}|{cell}|_"  # noqa: E731
    table = pd.DataFrame({
        "label": pairs["label"].to_numpy(),
        "enh_name": list(map(name, pairs.enhancer_contig, pairs.enhancer_start, pairs.enhancer_end, pairs.cell_line)),
        "prom_name": list(map(name, pairs.promoter_contig, pairs.promoter_start, pairs.promoter_end, pairs.cell_line)),
        "celltype": pairs["cell_line"].to_numpy(),
    })
    scale = np.where(pairs["cell_line"].to_numpy() == sorted(set(pairs["cell_line"]))[1], 10.0, 1.0)
    for mark in ("CTCF", "H3K27ac", "H3K4me3"):
        for region in REGIONS:
            planted = 0.05 * pairs["label"].to_numpy() if (mark, region) == ("H3K27ac", "enhancer") else 0.0
            table[f"{mark} ({region})"] = (rng.gamma(1.0, 0.01, len(pairs)) + planted) * scale
    folder = tmp_path_factory.mktemp("crosscell")
    table.to_csv(folder / "features.csv", index=False)
    build_store(loaded, folder / "sig.zarr", signals=str(folder / "features.csv"), with_sequence=False, progress=False)
    return folder / "sig.zarr"


def test_a_normalised_store_records_its_method_and_holds_each_cell_lines_own_ranks(signal_store, tmp_path):
    import epizoo
    from epizoo.signal_norm import normalise_store_signals

    out = normalise_store_signals(signal_store, tmp_path / "rank.zarr", "rank")
    raw, ranked = epizoo.open_store(signal_store), epizoo.open_store(out)
    assert ranked.attrs["signal_normalisation"].startswith("rank within each cell line")
    line = raw["pair_cell_line"].values
    values = raw["pair_signal"].values
    expected = normalise_by_cell_line(values, line, "rank")
    np.testing.assert_allclose(ranked["pair_signal"].values, expected, rtol=1e-6)
    np.testing.assert_array_equal(ranked["pair_label"].values, raw["pair_label"].values)
    with pytest.raises(EpizooError, match="already normalised"):
        normalise_store_signals(out, tmp_path / "twice.zarr", "rank")
    with pytest.raises(EpizooError, match="choose one of log1p, rank"):
        normalise_store_signals(signal_store, tmp_path / "z.zarr", "zscore")  # negative values: not a store's signals
    with pytest.raises(EpizooError, match="exists"):
        normalise_store_signals(signal_store, out, "log1p")
    assert not (tmp_path / "z.zarr").exists() and not (tmp_path / "twice.zarr").exists()


def test_crosscell_xgb_runs_through_bench_and_gets_each_pairs_cell_line(signal_store, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from epizoo.cli import cli

    result = CliRunner().invoke(cli, ["bench", str(signal_store), "--models", "crosscell-xgb", "--tiny", "--split", "transepi",
                                      "--split-option", "train=SYN-A", "--split-option", "test=SYN-B",
                                      "--split-option", "groups=chr1,chr2;chr3,chr4",
                                      "--out", str(tmp_path / "run"), "--no-progress", "--threads", "1"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "run" / "metrics.tsv", sep="\t")
    assert len(metrics) == 2 and (metrics["auroc"] > 0.75).all()  # the planted mark, across a 10-fold scale change


def test_normalise_signals_command_writes_the_library_s_store(signal_store, tmp_path):
    import epizoo
    from click.testing import CliRunner

    from epizoo.cli import cli

    result = CliRunner().invoke(cli, ["normalise-signals", str(signal_store), "--method", "rank", "-o", str(tmp_path / "r.zarr")])
    assert result.exit_code == 0, result.output
    ranked = epizoo.open_store(tmp_path / "r.zarr")
    assert ranked.attrs["signal_normalisation"].startswith("rank within each cell line")
    again = CliRunner().invoke(cli, ["normalise-signals", str(tmp_path / "r.zarr"), "--method", "rank", "-o", str(tmp_path / "x.zarr")])
    assert again.exit_code == 1 and "already normalised" in again.output and "Traceback" not in again.output
