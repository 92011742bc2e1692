"""The synthetic generator: shape of the data, determinism, and that its grammar is learnable."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from epizoo import coords, sequence
from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import MAX_DISTANCE, MIN_DISTANCE, SyntheticOptionError, planted_motifs, simulate
from epizoo.errors import EpizooError
from epizoo.plugins import get_dataset

CROP = 400  # a short centred crop: the motifs must be inside it


@pytest.fixture(scope="module")
def loaded():
    return simulate(DatasetRequest(seed=3, options={"n_pairs": 3000}))


def pair_distance(pairs):
    enhancer = coords.centre(pairs["enhancer_start"], pairs["enhancer_end"])
    promoter = coords.centre(pairs["promoter_start"], pairs["promoter_end"])
    return (enhancer - promoter).abs().to_numpy()


def crops(genome, pairs, kind):
    start = coords.window_start(pairs[f"{kind}_start"].to_numpy(), pairs[f"{kind}_end"].to_numpy(), CROP)
    return [sequence.decode(genome.fetch(c, s, s + CROP)) for c, s in zip(pairs[f"{kind}_contig"], start)]


def motif_counts(texts, motifs):
    return np.array([[text.count(m) for m in motifs] for text in texts], dtype=float)


def test_shape_of_the_default_dataset(loaded):
    pairs = loaded.pairs
    assert loaded.genome_build == "synthetic"
    assert set(pairs["enhancer_contig"]) == {"chr1", "chr2", "chr3", "chr4", "chr5", "chrX"}
    assert set(pairs["cell_line"]) == {"SYN-A", "SYN-B"}
    assert (pairs["enhancer_contig"] == pairs["promoter_contig"]).all()
    assert 2900 <= len(pairs) <= 3100
    n_pos = int(pairs["label"].sum())
    assert (len(pairs) - n_pos) == 5 * n_pos  # the 1:5 ratio, exactly
    distance = pair_distance(pairs)
    assert distance.min() >= MIN_DISTANCE and distance.max() <= MAX_DISTANCE
    # no pair twice, so none with both labels, though label noise draws from both kinds of promoter
    assert not pairs.duplicated(["enhancer_start", "enhancer_contig", "promoter_start", "cell_line"]).any()
    # enhancers are shared by several pairs, and have real widths
    assert pairs.groupby(["enhancer_contig", "enhancer_start"]).size().mean() > 3
    width = pairs["enhancer_end"] - pairs["enhancer_start"]
    assert width.between(500, 1500).all()
    assert loaded.report["pairs"] == len(pairs) and loaded.report["shortfall"] == 0


def test_elements_do_not_overlap(loaded):
    pairs = loaded.pairs
    elements = (
        np.concatenate([pairs[["enhancer_contig", "enhancer_start", "enhancer_end"]].to_numpy(),
                        pairs[["promoter_contig", "promoter_start", "promoter_end"]].to_numpy()])
    )
    for contig in set(elements[:, 0]):
        rows = np.unique(elements[elements[:, 0] == contig][:, 1:].astype(int), axis=0)
        assert (rows[1:, 0] >= rows[:-1, 1]).all()
        assert rows[-1, 1] <= loaded.sequence.contig_length(contig)


def test_same_seed_same_data_other_seed_other_data(loaded):
    again = simulate(DatasetRequest(seed=3, options={"n_pairs": 3000}))
    assert again.pairs.equals(loaded.pairs)
    assert again.sequence.sha256() == loaded.sequence.sha256()
    assert loaded.sequence.name == "synthetic-seed3"
    other = simulate(DatasetRequest(seed=4, options={"n_pairs": 3000}))
    assert other.sequence.sha256() != loaded.sequence.sha256()


def test_motifs_sit_in_a_short_centred_crop(loaded):
    enhancer_motifs, promoter_motifs = planted_motifs(3)
    sample = loaded.pairs.sample(200, random_state=0)
    enhancer = motif_counts(crops(loaded.sequence, sample, "enhancer"), enhancer_motifs)
    promoter = motif_counts(crops(loaded.sequence, sample, "promoter"), promoter_motifs)
    assert ((enhancer >= 2).sum(axis=1) == 1).all()  # exactly one class, planted 2-3 times
    assert ((promoter >= 2).sum(axis=1) == 1).all()


def test_interaction_is_learnable_and_distance_is_weak(loaded):
    """Motif-pair features beat distance by far on held-out contigs; neither element alone predicts."""
    pairs = loaded.pairs
    enhancer_motifs, promoter_motifs = planted_motifs(3)
    enhancer = motif_counts(crops(loaded.sequence, pairs, "enhancer"), enhancer_motifs)
    promoter = motif_counts(crops(loaded.sequence, pairs, "promoter"), promoter_motifs)
    interaction = (enhancer[:, :, None] * promoter[:, None, :]).reshape(len(pairs), -1)
    distance = np.log10(pair_distance(pairs))[:, None]
    labels = pairs["label"].to_numpy()
    test = pairs["enhancer_contig"].isin(["chr4", "chr5", "chrX"]).to_numpy()

    def held_out_auroc(features):
        model = LogisticRegression(max_iter=2000).fit(features[~test], labels[~test])
        return roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1])

    grammar, by_distance = held_out_auroc(interaction), held_out_auroc(distance)
    enhancer_only = held_out_auroc(enhancer)
    assert grammar > 0.95
    assert 0.5 < by_distance < 0.65  # weak: about 0.55
    assert enhancer_only < 0.62
    assert grammar - by_distance > 0.25


def test_label_noise_sets_the_oracle_auroc():
    """The oracle is the grammar itself; noise is the share of labels it cannot explain."""
    clean = simulate(DatasetRequest(seed=5, options={"n_pairs": 3000, "label_noise": 0}))
    noisy = simulate(DatasetRequest(seed=5, options={"n_pairs": 3000, "label_noise": "0.1"}))
    assert clean.report["oracle_auroc"] == 1.0
    assert 0.88 < noisy.report["oracle_auroc"] < 0.96  # about 1 - noise, and distance breaks the ties
    assert noisy.report["label_noise"] == 0.1
    for loaded in (clean, noisy):
        pairs = loaded.pairs
        assert not pairs.duplicated(["enhancer_start", "enhancer_contig", "promoter_start", "cell_line"]).any()
    with pytest.raises(SyntheticOptionError, match="label_noise"):
        simulate(DatasetRequest(options={"label_noise": 0.7}))


def test_defaults_give_a_thousand_training_positives_per_loco_fold(tmp_path):
    from epizoo import open_store, simulate_store

    simulate_store(tmp_path / "default.zarr")
    ds = open_store(tmp_path / "default.zarr")
    labels = ds["pair_label"].values.astype(bool)
    cell_line = ds["pair_cell_line"].values
    folds = ds.epizoo.folds("loco")
    assert len(folds) == 6
    for fold in folds:
        for name in np.unique(cell_line):
            assert (fold.train & labels & (cell_line == name)).sum() >= 1000, (fold.name, name)


def test_options_and_cell_line_names():
    loaded = simulate(DatasetRequest(cell_lines=("X1", "X2", "X3"), options={"n_pairs": "800", "n_contigs": "3", "ratio": "5"}))
    pairs = loaded.pairs
    assert set(pairs["cell_line"]) == {"X1", "X2", "X3"}
    assert set(pairs["enhancer_contig"]) == {"chr1", "chr2", "chrX"}
    assert (pairs["label"] == 0).sum() == 5 * pairs["label"].sum()


@pytest.mark.parametrize(
    "options, text",
    [({"n_pairs": "many"}, "must be an integer"), ({"colour": 1}, "unknown synthetic option"), ({"ratio": 0}, "at least 1")],
)
def test_bad_options_are_one_clear_error(options, text):
    with pytest.raises(SyntheticOptionError, match=text) as info:
        simulate(DatasetRequest(options=options))
    assert isinstance(info.value, EpizooError) and "\n" not in str(info.value)


def test_registered_as_a_dataset():
    spec = get_dataset("synthetic")
    assert spec.genome_build == "synthetic"
    assert len(spec.load(DatasetRequest(options={"n_pairs": 300, "n_contigs": 2})).pairs) > 250
