"""EPI-DynFusion, SPEID, SIMCNN, LOCO-EPI and the distance and k-mer baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

import epizoo.plugins
from epizoo.errors import EpizooError
from epizoo.sequence import encode
from epizoo_zoo import baselines, locoepi

TORCH_MODELS = ("epi-dynfusion", "speid", "simcnn", "loco-epi")
SKLEARN_MODELS = ("distance", "kmer")
ALIASES = {
    "epi-dynfusion": ("dynfusion", "EPI-DynFusion"),
    "speid": ("SPEID",),
    "simcnn": ("SIMCNN",),
    "loco-epi": ("locoepi", "LOCO-EPI"),
    "distance": (),
    "kmer": ("k-mer",),
}
PUBLISHED = {"epi-dynfusion": 2_425_177, "speid": 19_849_003, "simcnn": 47_565_731}


@pytest.fixture(scope="module")
def specs():
    epizoo.plugins.reset()
    return {name: epizoo.plugins.get_model(name) for name in TORCH_MODELS + SKLEARN_MODELS}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def encoded_batch(spec, batch: int = 8, seed: int = 0, **overrides):
    """Random int8 codes of the tiny lengths, encoded by the registered encoder the model names."""
    hparams = spec.hparams(tiny=True, **overrides)
    generator = torch.Generator().manual_seed(seed)
    encode_fn = epizoo.plugins.get_encoder(spec.input_encoding).function
    codes = [
        torch.randint(0, 5, (batch, hparams[key]), generator=generator, dtype=torch.int8)
        for key in ("enhancer_length", "promoter_length")
    ]
    return tuple(encode_fn(c) for c in codes)


def capture_input(module: torch.nn.Module) -> list:
    seen = []
    module.register_forward_hook(lambda _module, args, output: seen.append((args[0].detach(), output)))
    return seen


# ---------------------------------------------------------------- registry and cards


@pytest.mark.parametrize("name", TORCH_MODELS + SKLEARN_MODELS)
def test_found_through_the_registry_by_name_and_alias(specs, name):
    for alias in ALIASES[name]:
        assert epizoo.plugins.get_model(alias) is specs[name]


@pytest.mark.parametrize("name", ("epi-dynfusion", "speid", "simcnn"))
def test_published_models_name_their_upstream_commit_and_logit_port(specs, name):
    card = specs[name].card
    assert len(card.upstream_commit) == 40 and card.upstream_repository.startswith("https://github.com/")
    assert "doi:" in card.citation and "BCE-with-logits" in card.port_deviations


def test_recipes_follow_the_papers_and_scripts(specs):
    dyn, speid, simcnn = specs["epi-dynfusion"].recipe, specs["speid"].recipe, specs["simcnn"].recipe
    assert (dyn.optimizer, dyn.learning_rate, dyn.epochs, dyn.batch_size, dyn.early_stopping_patience) == (
        "nadam", 1e-3, 30, 64, 5)
    assert (dyn.validation_fraction, dyn.augmentation_shifts) == (0.05, 20)
    assert (speid.optimizer, speid.learning_rate, speid.epochs, speid.batch_size) == ("adam", 1e-5, 32, 100)
    assert (simcnn.optimizer, simcnn.learning_rate, simcnn.epochs, simcnn.batch_size) == ("adam", 1e-5, 32, 50)
    assert specs["speid"].input_encoding == specs["simcnn"].input_encoding == "onehot"
    assert specs["epi-dynfusion"].input_encoding == specs["loco-epi"].input_encoding == "kmer6"


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_trainable_parameters_match_published_figure(specs, name):
    assert specs[name].published_parameters == PUBLISHED[name]
    assert trainable(specs[name].build()) == PUBLISHED[name]


@pytest.mark.parametrize("preset, expected", [("frozen", 50_436_979), ("epi-dlmh", 208_159_875)])
def test_speid_presets_match_their_computed_counts(specs, preset, expected):
    with torch.device("meta"):  # shapes only: the 208M-parameter preset is never allocated
        model = specs["speid"].build(preset=preset)
    assert trainable(model) == expected


def test_loco_epi_count_is_the_one_its_card_states(specs):
    spec = specs["loco-epi"]
    assert spec.published_parameters is None
    count = trainable(spec.build())
    assert f"{count:,}" in spec.card.notes


# ---------------------------------------------------------------- forward and backward


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_tiny_forward_backward_gives_logits_and_finite_gradients(specs, name):
    torch.manual_seed(0)
    spec = specs[name]
    model = spec.build(tiny=True)
    enhancer, promoter = encoded_batch(spec)
    logits = model(enhancer, promoter)
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.arange(8.0) % 2)
    if hasattr(model, "regularization_loss"):
        loss = loss + model.regularization_loss()
    loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name}: {parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name}: {parameter_name} has non-finite gradients"


@pytest.mark.parametrize("name", TORCH_MODELS + SKLEARN_MODELS)
def test_plugin_author_smoke_check_passes(specs, name, epizoo_model_smoke):
    epizoo_model_smoke(specs[name])


@pytest.mark.parametrize("name", ("epi-dynfusion", "loco-epi"))
def test_embedding_source_and_pretrained_start(specs, name):
    spec = specs[name]
    assert spec.uses_pretrained_embedding
    assert spec.build(tiny=True).embedding_source == "random"
    matrix = np.random.default_rng(0).normal(size=(4097, 100))
    model = spec.build(tiny=True, pretrained_embedding=matrix)
    assert model.embedding_source == "dna2vec"
    for table in (model.embedding.enhancer, model.embedding.promoter):
        assert table.weight.requires_grad and table.weight.dtype == torch.float32
        assert torch.allclose(table.weight, torch.as_tensor(matrix, dtype=torch.float32))
    with pytest.raises(EpizooError, match="shape"):
        spec.build(tiny=True, pretrained_embedding=matrix[:, :50])


# ---------------------------------------------------------------- EPI-DynFusion structure


def test_dynfusion_concatenates_388_tokens_at_default_lengths(specs):
    model = specs["epi-dynfusion"].build(positional_encoding=True)
    assert tuple(model.position_table.shape) == (388, 100)  # 194 enhancer + 194 promoter tokens
    assert trainable(model.cbam) == 1_218 and trainable(model.transformer) == 92_356 and trainable(model.gru) == 91_200


def test_dynfusion_tiny_token_count_and_sequential_streams(specs):
    torch.manual_seed(0)
    model = specs["epi-dynfusion"].build(tiny=True).eval()
    transformer_seen, gru_seen, cbam_seen = (capture_input(m) for m in (model.transformer, model.gru, model.cbam))
    model(*encoded_batch(specs["epi-dynfusion"]))
    # (300 - 80 + 1) // 15 + (200 - 61 + 1) // 10 = 14 + 14 tokens of 16 channels
    assert tuple(cbam_seen[0][0].shape) == (8, 16, 28)
    assert torch.equal(gru_seen[0][0], transformer_seen[0][1])  # the code: BiGRU reads the Transformer output


def test_dynfusion_parallel_streams_read_the_same_tokens(specs):
    torch.manual_seed(0)
    model = specs["epi-dynfusion"].build(tiny=True, streams="parallel").eval()
    transformer_seen, gru_seen = capture_input(model.transformer), capture_input(model.gru)
    model(*encoded_batch(specs["epi-dynfusion"]))
    assert torch.equal(gru_seen[0][0], transformer_seen[0][0])


def test_dynfusion_balanced_fusion_starts_both_gates_at_one_half(specs):
    model = specs["epi-dynfusion"].build(tiny=True, fusion_init="balanced")
    assert torch.sigmoid(model.transformer_weight).item() == torch.sigmoid(model.gru_weight).item() == 0.5


@pytest.mark.parametrize(
    "overrides, message",
    [({"streams": "both"}, "streams"), ({"fusion_init": "equal"}, "fusion_init"), ({"enhancer_length": 50}, "too short")],
)
def test_dynfusion_rejects_bad_options_in_one_line(specs, overrides, message):
    with pytest.raises(EpizooError, match=message):
        specs["epi-dynfusion"].build(tiny=True, **overrides)


# ---------------------------------------------------------------- SPEID and SIMCNN structure


def test_speid_layers_follow_the_keras_model(specs):
    model = specs["speid"].build()
    assert model.head[0].in_features == 246 * 100  # (148 + 98) time steps x BiLSTM(50) both directions
    assert isinstance(model.head[-1], torch.nn.BatchNorm1d) and model.head[-1].num_features == 1
    assert (model.head[-1].momentum, model.head[-1].eps) == (0.01, 1e-3)
    assert any(isinstance(layer, torch.nn.ReLU) for layer in model.enhancer_conv)
    with torch.device("meta"):
        frozen = specs["speid"].build(preset="frozen")
    assert not any(isinstance(layer, torch.nn.ReLU) for layer in frozen.enhancer_conv)


def test_speid_regularization_loss_is_the_keras_l2_sum(specs):
    model = specs["speid"].build(tiny=True)
    expected = 1e-5 * (model.enhancer_conv[0].weight.pow(2).sum() + model.promoter_conv[0].weight.pow(2).sum())
    expected = expected + 1e-6 * model.head[0].weight.pow(2).sum()
    assert torch.allclose(model.regularization_loss(), expected)


def test_speid_rejects_an_unknown_preset(specs):
    with pytest.raises(EpizooError, match="preset"):
        specs["speid"].build(tiny=True, preset="large")


def test_simcnn_layers_follow_the_keras_model(specs):
    model = specs["simcnn"].build()
    assert model.head[0].in_features == (147 + 97) * 200
    tiny = specs["simcnn"].build(tiny=True)
    # (400 - 39 - 19) // 20 + (300 - 39 - 19) // 20 = 17 + 12 time steps x 8 filters
    assert tiny.head[0].in_features == 29 * 8
    assert isinstance(tiny.head[-1], torch.nn.BatchNorm1d) and tiny.regularization_loss().item() > 0


# ---------------------------------------------------------------- LOCO-EPI structure


def test_loco_epi_kmer_spectrum_matches_numpy_counts_of_the_same_windows():
    codes = torch.randint(0, 4, (8, 300), generator=torch.Generator().manual_seed(0), dtype=torch.int8)
    ids = epizoo.plugins.get_encoder("kmer6").function(codes)
    spectrum = locoepi.KmerSpectrum((4,))(ids).numpy()
    # a 4-mer is counted as a 6-mer's prefix, so the window's last two 4-mers are not counted
    expected = baselines.kmer_frequencies(codes[:, :-2].numpy(), k=4)
    assert spectrum.shape == (8, 136)
    np.testing.assert_allclose(spectrum, expected, rtol=1e-5)


def test_loco_epi_branch_ablations(specs):
    spec = specs["loco-epi"]
    batch = encoded_batch(spec)
    deep, kmer = spec.build(tiny=True, branches="deep"), spec.build(tiny=True, branches="kmer")
    assert not hasattr(deep, "spectrum") and not hasattr(kmer, "embedding")
    assert kmer.embedding_source == "none"
    assert deep(*batch).shape == kmer(*batch).shape == (8,)
    with pytest.raises(EpizooError, match="kmer_sizes"):
        spec.build(tiny=True, kmer_sizes=(7,))


# ---------------------------------------------------------------- baselines


def split_auroc(spec, features, labels, **hparams) -> tuple[float, np.ndarray]:
    """Fit on half the rows (both labels), score the other half: AUROC and held-out probabilities."""
    train = np.arange(len(labels)) % 4 < 2
    model = spec.factory(**spec.hparams(tiny=True, **hparams))
    with threadpool_limits(limits=1):  # OpenMP barriers crawl when the cores are shared with other jobs
        model.fit(features[train], labels[train])
    probabilities = model.predict_proba(features[~train])[:, 1]
    return roc_auc_score(labels[~train], probabilities), probabilities


def test_distance_baseline_learns_a_distance_effect(specs):
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    distance = np.where(labels == 1, rng.uniform(1e4, 1e5, 400), rng.uniform(5e4, 2e6, 400))
    codes = np.zeros((400, 10), dtype=np.int8)
    features = specs["distance"].features(codes, codes, distance)
    assert features.shape == (400, 2) and np.allclose(features[:, 0], np.log10(distance + 1)) and not features[:, 1].any()
    auroc, probabilities = split_auroc(specs["distance"], features, labels)
    assert auroc > 0.9 and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_a_trans_pair_is_not_the_closest_pair_to_the_distance_baseline(specs):
    from epizoo.coords import TRANS_DISTANCE

    spec, rng = specs["distance"], np.random.default_rng(0)
    labels = np.arange(400) % 2
    distance = np.where(labels == 1, rng.uniform(1e4, 1e5, 400), rng.uniform(5e4, 2e6, 400))
    codes = np.zeros((401, 10), dtype=np.int8)
    model = spec.factory(**spec.hparams(tiny=True))
    with threadpool_limits(limits=1):
        model.fit(spec.features(codes[:400], codes[:400], distance), labels)  # cis pairs only
        cis = model.predict_proba(spec.features(codes[:3], codes[:3], np.array([0, 1_000, 5_000_000])))[:, 1]
        trans = spec.features(codes[:1], codes[:1], np.array([TRANS_DISTANCE]))
        score = model.predict_proba(trans)[0, 1]
    assert trans.tolist() == [[baselines.TRANS_LOG_DISTANCE, 1.0]]  # not log10(|-1| + 1) = 0.3, the closest
    assert score < cis.min()  # scored as farther than any pair on one contig, not as the closest

    # With trans pairs in training, is_trans gives them their own rate: here all positive.
    with_trans = np.concatenate([distance, np.full(40, TRANS_DISTANCE)])
    with_labels = np.concatenate([labels, np.ones(40, dtype=int)])
    codes = np.zeros((440, 10), dtype=np.int8)
    with threadpool_limits(limits=1):
        model = spec.factory(**spec.hparams(tiny=True)).fit(spec.features(codes, codes, with_trans), with_labels)
        assert model.predict_proba(trans)[0, 1] > 0.5


def plant(codes: np.ndarray, motif: str, rows: np.ndarray, copies: int, rng) -> None:
    motif_codes = encode(motif)
    for row in np.flatnonzero(rows):
        for start in rng.integers(0, codes.shape[1] - len(motif_codes), copies):
            codes[row, start : start + len(motif_codes)] = motif_codes


def test_kmer_baseline_learns_a_planted_kmer(specs):
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 2
    enhancer = rng.integers(0, 4, (300, 400), dtype=np.int8)
    promoter = rng.integers(0, 4, (300, 300), dtype=np.int8)
    plant(promoter, "GATA", labels == 1, 12, rng)
    features = specs["kmer"].features(enhancer, promoter, np.full(300, 5e4))
    assert features.shape == (300, 2 * 136)
    np.testing.assert_allclose(features[:, :136].sum(axis=1), 1.0)
    auroc, probabilities = split_auroc(specs["kmer"], features, labels)
    assert auroc > 0.9 and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_kmer_frequencies_pool_reverse_complements_and_skip_n():
    frequencies = baselines.kmer_frequencies(np.stack([encode("AAAAT"), encode("ATTTT"), encode("ANAAA")]))
    np.testing.assert_array_equal(frequencies[0], frequencies[1])  # AAAA/TTTT and AAAT/ATTT pool
    assert frequencies[0].sum() == 1.0 and np.count_nonzero(frequencies[0]) == 2
    assert frequencies[2].sum() == 0.0  # every 4-mer of ANAAA holds the N


@pytest.mark.parametrize(
    "enhancer_rows, distance, message",
    [
        (3, [1.0, 2.0, 3.0, 4.0], "3 enhancers"),
        (4, [1.0, np.nan, 3.0, 4.0], "missing or infinite"),
        (4, [1.0, -5.0, -1.0, 4.0], "negative values other than -1"),
    ],
)
@pytest.mark.parametrize("name", SKLEARN_MODELS)
def test_baseline_features_reject_mismatched_input_in_one_line(specs, name, enhancer_rows, distance, message):
    codes = np.zeros((4, 20), dtype=np.int8)
    with pytest.raises(EpizooError, match=message):
        specs[name].features(codes[:enhancer_rows], codes, np.array(distance))
