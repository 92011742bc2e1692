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


# ---- the difficulty ladder: motif_position, motif_window, n_elements ----------------------------------

SMALL = {"n_pairs": 600, "n_contigs": 2}
# sha256 of the pair table (CSV) and the genome's sha256 for seed 3 and SMALL, computed before the ladder
# options existed: the defaults must keep building the same data set (so the same stores)
SMALL_DIGEST = "c2411b46b359f20f68e60eb7a69f7b189c321d7d2fbd4398e79f052ed9245f82"
FIXTURE_DIGEST = "e92cb5a715fcf1c98f68498e1c752607722c0019088200542b149f8d9cd8d871"  # the module fixture's


def digest(loaded) -> str:
    import hashlib

    h = hashlib.sha256(loaded.pairs.to_csv(index=False).encode())
    h.update(loaded.sequence.sha256().encode())
    return h.hexdigest()


def test_defaults_build_the_same_data_as_before_the_ladder(loaded):
    assert digest(loaded) == FIXTURE_DIGEST
    assert digest(simulate(DatasetRequest(seed=3, options=SMALL))) == SMALL_DIGEST
    explicit = {**SMALL, "motif_position": "central", "motif_window": 0, "n_elements": 300}  # 2 contigs x 150, what SMALL derives
    assert digest(simulate(DatasetRequest(seed=3, options=explicit))) == SMALL_DIGEST


def copy_offsets(options: dict, half_window: dict[str, int], seed: int = 3) -> dict[str, list[np.ndarray]]:
    """Per kind, for every element: the offsets (motif centre - element centre) of its class's copies
    (the one motif found at least twice) within ``half_window`` bp of its centre.

    A random 10-mer also turns up by chance (about once per million bp per motif), so the checks
    below allow stray hits in 2 % of elements."""
    from epizoo.datasets.synthetic import simulate_genome

    genome, elements, opts = simulate_genome(DatasetRequest(seed=seed, options=options))
    motifs = dict(zip(("enhancer", "promoter"), planted_motifs(seed)))
    found: dict[str, list[np.ndarray]] = {"enhancer": [], "promoter": []}
    for contig, kind, centre in elements[["contig", "kind", "centre"]].itertuples(index=False):
        half = half_window[kind]
        text = sequence.decode(genome[contig][centre - half : centre + half])
        hits = [[i for i in range(len(text)) if text.startswith(m, i)] for m in motifs[kind]]
        classes = [h for h in hits if len(h) >= 2]
        assert len(classes) == 1, (kind, centre, hits)  # one class, planted 2-3 times
        found[kind].append(np.array(classes[0]) + 10 // 2 - half)  # motif_length 10: its centre
    return found


def share(found, check) -> float:
    every = found["enhancer"] + found["promoter"]
    return sum(bool(check(offsets)) for offsets in every) / len(every)


def test_fixed_plants_every_copy_at_its_offset():
    found = copy_offsets({**SMALL, "motif_position": "fixed"}, {"enhancer": 1500, "promoter": 1000})
    # the first copy exactly at the centre, the others 100 bp downstream, then upstream
    assert share(found, lambda o: o.tolist() in ([-100, 0, 100], [0, 100])) > 0.98
    assert share(found, lambda o: {0, 100} <= set(o.tolist())) == 1.0
    assert 0.2 < share(found, lambda o: -100 in o) < 0.8  # 2 or 3 copies


def test_central_plants_within_150_bp():
    found = copy_offsets(SMALL, {"enhancer": 1500, "promoter": 1000})
    assert share(found, lambda o: (np.abs(o) <= 150 - 5).all()) > 0.98  # the whole 10-mer inside +-150
    assert share(found, lambda o: (np.abs(o) <= 150 - 5).sum() >= 2) == 1.0


@pytest.mark.parametrize("window", [0, 400])
def test_anywhere_plants_over_the_model_window(window):
    options = {**SMALL, "motif_position": "anywhere", **({"motif_window": window} if window else {})}
    half = {"enhancer": (window or 3000) // 2, "promoter": (window or 2000) // 2}
    # a wider search finds no more copies: every copy lies in the element's own window, and no
    # window holds a neighbour's copies
    found = copy_offsets(options, half)
    wider = copy_offsets(options, {kind: h + 300 for kind, h in half.items()})
    for kind in found:
        every = np.concatenate(found[kind])
        assert (np.abs(every) <= half[kind] - 5).all()
        assert (np.abs(every) > 150).mean() > (0.2 if window else 0.8)  # copies outside the central 300 bp
        stray = sum(len(w) != len(f) for w, f in zip(wider[kind], found[kind]))
        assert stray <= 0.02 * len(found[kind])
    report = simulate(DatasetRequest(seed=3, options=options)).report
    assert report["motif_position"] == "anywhere" and report["motif_window"] == {k: 2 * h for k, h in half.items()}


def test_fixed_and_anywhere_change_only_the_motifs():
    """Below a 1.7-kb window the levels share their elements, classes and pairs: only the copies move."""
    central = simulate(DatasetRequest(seed=3, options=SMALL))
    for extra in ({"motif_position": "fixed"}, {"motif_position": "anywhere", "motif_window": 400}):
        other = simulate(DatasetRequest(seed=3, options={**SMALL, **extra}))
        assert other.pairs.equals(central.pairs)
        assert other.sequence.sha256() != central.sequence.sha256()


def test_n_elements_sets_the_elements_and_their_reuse():
    from epizoo.datasets.synthetic import simulate_genome

    _, elements, _ = simulate_genome(DatasetRequest(seed=3, options={**SMALL, "n_elements": 201}))
    counts = elements.groupby(["contig", "kind"]).size()
    assert counts.to_dict() == {("chr1", "enhancer"): 101, ("chr1", "promoter"): 101, ("chrX", "enhancer"): 100,
                                ("chrX", "promoter"): 100}

    def per_enhancer(n_elements):
        loaded = simulate(DatasetRequest(seed=3, options={**SMALL, "n_elements": n_elements}))
        assert loaded.report["n_elements"] == n_elements and loaded.report["shortfall"] == 0
        pairs = loaded.pairs
        return len(pairs), pairs.groupby(["enhancer_contig", "enhancer_start"]).ngroups

    (few_pairs, few), (many_pairs, many) = per_enhancer(120), per_enhancer(2000)
    assert few <= 120 and many > 400
    assert few_pairs / few > 3 * many_pairs / many  # fewer elements: each in more pairs
    assert simulate(DatasetRequest(seed=3, options=SMALL)).report["n_elements"] == 300  # derived: 2 contigs x 150


@pytest.mark.parametrize(
    "options, text",
    [
        ({"motif_position": "middle"}, "must be one of: fixed, central, anywhere"),
        ({"motif_window": 400}, "applies to motif_position=anywhere only"),
        ({"motif_position": "anywhere", "motif_window": 200}, "must be from 300"),
        ({"motif_position": "anywhere", "motif_window": "wide"}, "must be an integer"),
        ({"n_elements": -3}, "must be at least 1"),
        ({**SMALL, "n_elements": 20}, "too few for n_pairs=600"),
    ],
)
def test_bad_ladder_options_are_one_clear_error(options, text):
    with pytest.raises(SyntheticOptionError, match=text) as info:
        simulate(DatasetRequest(options=options))
    assert "\n" not in str(info.value)


def test_too_few_elements_names_a_number_that_works():
    import re

    with pytest.raises(SyntheticOptionError) as info:
        simulate(DatasetRequest(options={**SMALL, "n_elements": 20}))
    needed = int(re.search(r"at least ([\d,]+) enhancers", str(info.value)).group(1).replace(",", ""))
    loaded = simulate(DatasetRequest(options={**SMALL, "n_elements": needed}))
    assert loaded.report["shortfall"] <= 0.03 * len(loaded.pairs)  # at the bound a few pairs may lack a partner


def test_the_store_records_the_ladder_options(tmp_path):
    import json

    from epizoo import open_store, simulate_store

    simulate_store(tmp_path / "fixed.zarr", n_pairs=300, n_contigs=1, cell_lines=1, motif_position="fixed", n_elements=160)
    attrs = open_store(tmp_path / "fixed.zarr").attrs
    reader = json.loads(attrs["build_report"])["reader"]
    assert reader["motif_position"] == "fixed" and reader["n_elements"] == 160
    assert "motif_position': 'fixed'" in attrs["command"]
