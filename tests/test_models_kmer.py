"""The dna2vec k-mer models (EPIVAN, EPI-DLMH, EPI-Mind, EPI-Trans) and their shared layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epizoo.plugins
from epizoo.errors import EpizooError
from epizoo_zoo import layers

NAMES = ("epivan", "epi-dlmh", "epi-mind", "epi-trans")
ALIASES = {
    "epivan": ("EPIVAN", "epi-van"),
    "epi-dlmh": ("dlmh", "EPI-DLMH"),
    "epi-mind": ("mind",),
    "epi-trans": ("trans",),
}
PUBLISHED = {"epivan": 1_371_657, "epi-dlmh": 1_566_241, "epi-mind": 1_453_037, "epi-trans": 1_891_721}


@pytest.fixture(scope="module")
def specs():
    epizoo.plugins.reset()
    return {name: epizoo.plugins.get_model(name) for name in NAMES}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def kmer_batch(spec, batch: int = 8, seed: int = 0, **overrides):
    """Random int8 codes (N included) of the tiny lengths, encoded by the registered kmer6 encoder."""
    hparams = spec.hparams(tiny=True, **overrides)
    generator = torch.Generator().manual_seed(seed)
    encode = epizoo.plugins.get_encoder(spec.input_encoding).function
    codes = [
        torch.randint(0, 5, (batch, hparams[key]), generator=generator, dtype=torch.int8)
        for key in ("enhancer_length", "promoter_length")
    ]
    return tuple(encode(c) for c in codes)


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_aliases_and_contract(specs, name):
    spec = specs[name]
    for alias in ALIASES[name]:
        assert epizoo.plugins.get_model(alias) is spec
    assert spec.kind == "torch" and spec.input_encoding == "kmer6" and spec.uses_pretrained_embedding
    assert (spec.enhancer_length, spec.promoter_length) == (3000, 2000)
    assert spec.recipe.augmentation_shifts == 20 and spec.recipe.shift_step == 50
    assert len(spec.card.upstream_commit) == 40 and spec.card.upstream_repository.startswith("https://github.com/")
    assert "BCE-with-logits" in spec.card.port_deviations


@pytest.mark.parametrize("name", NAMES)
def test_default_trainable_parameters_match_published_figure(specs, name):
    spec = specs[name]
    assert spec.published_parameters == PUBLISHED[name]
    assert trainable(spec.build()) == PUBLISHED[name]


def test_recipes_follow_the_upstream_training_scripts(specs):
    recipes = {name: specs[name].recipe for name in NAMES}
    assert (recipes["epivan"].optimizer, recipes["epivan"].learning_rate, recipes["epivan"].epochs) == ("adam", 1e-3, 15)
    assert (recipes["epi-dlmh"].learning_rate, recipes["epi-dlmh"].epochs, recipes["epi-dlmh"].batch_size) == (5e-6, 90, 32)
    assert (recipes["epi-mind"].optimizer, recipes["epi-mind"].epochs, recipes["epi-mind"].batch_size) == ("adam", 15, 64)
    assert (recipes["epi-trans"].optimizer, recipes["epi-trans"].epochs, recipes["epi-trans"].batch_size) == ("nadam", 20, 64)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_forward_backward_gives_logits_and_finite_gradients(specs, name):
    torch.manual_seed(0)
    spec = specs[name]
    model = spec.build(tiny=True)
    enhancer, promoter = kmer_batch(spec)
    assert enhancer.dtype == torch.int64
    logits = model(enhancer, promoter)
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(8)).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
    assert model.embedding_source == "random"


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_embedding_starts_both_tables_and_stays_trainable(specs, name):
    matrix = np.random.default_rng(1).normal(size=(4097, 100))  # float64, like the published file
    model = specs[name].build(tiny=True, pretrained_embedding=matrix)
    assert model.embedding_source == "dna2vec"
    for table in (model.embedding.enhancer, model.embedding.promoter):
        assert table.weight.dtype == torch.float32 and table.weight.requires_grad
        assert torch.equal(table.weight, torch.as_tensor(matrix, dtype=torch.float32))
    assert model.embedding.enhancer.weight.data_ptr() != model.embedding.promoter.weight.data_ptr()


@pytest.mark.parametrize("name", NAMES)
def test_user_mistakes_raise_one_line_epizoo_errors(specs, name):
    with pytest.raises(EpizooError, match="expected \\(4097, 100\\)"):
        specs[name].build(tiny=True, pretrained_embedding=np.zeros((10, 100)))
    with pytest.raises(EpizooError, match="too short"):
        specs[name].build(tiny=True, enhancer_length=20)


def test_published_embedding_matrix_loads_into_the_models(specs, shared_data):
    matrix = np.load(shared_data / "hzy95-EPIVAN" / "embedding_matrix.npy")
    model = specs["epivan"].build(tiny=True, pretrained_embedding=matrix)
    assert model.embedding_source == "dna2vec"
    assert torch.allclose(model.embedding.promoter.weight, torch.as_tensor(matrix, dtype=torch.float32))
    assert not model.embedding.enhancer.weight[0].any()  # row 0 (N / padding) stays zero


def _branch_lengths(conv_enhancer, conv_promoter, spec):
    with torch.no_grad():
        e = conv_enhancer(torch.zeros(1, 100, spec.enhancer_length))
        p = conv_promoter(torch.zeros(1, 100, spec.promoter_length))
    return tuple(e.shape[1:]), tuple(p.shape[1:])


def test_default_conv_pool_shapes_match_the_specs(specs):
    van = specs["epivan"].build()
    assert _branch_lengths(van.enhancer_conv, van.promoter_conv, specs["epivan"]) == ((64, 148), (64, 98))
    dlmh = specs["epi-dlmh"].build()
    lengths = _branch_lengths(dlmh.enhancer_branch.conv, dlmh.promoter_branch.conv, specs["epi-dlmh"])
    assert lengths == ((64, 100), (64, 100))  # Keras 'same' padding then pools 30 / 20
    assert dlmh.head[0].num_features == 400  # [e, p, e-p, e*p] of 100 each
    mind = specs["epi-mind"].build()
    lengths = _branch_lengths(mind.enhancer_branch.conv, mind.promoter_branch.conv, specs["epi-mind"])
    assert lengths == ((72, 148), (72, 98))
    trans = specs["epi-trans"].build()
    assert _branch_lengths(trans.enhancer_conv, trans.promoter_conv, specs["epi-trans"]) == ((72, 194), (72, 194))


def test_keras_batchnorm_settings_are_used(specs):
    norms = [m for m in specs["epi-dlmh"].build(tiny=True).modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 4
    assert all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)


def test_epi_mind_shares_attention_and_feedforward_across_stacks(specs):
    model = specs["epi-mind"].build()
    for branch in (model.enhancer_branch, model.promoter_branch):
        encoder = branch.transformer
        assert len(encoder.attention) == 1 and len(encoder.feedforward) == 1
        assert len(encoder.attention_norms) == 4 and len(encoder.feedforward_norms) == 4
    assert model.enhancer_branch.transformer.attention[0] is not model.promoter_branch.transformer.attention[0]
    assert trainable(specs["epi-mind"].build(share_stack_weights=False)) == 1_769_501


def test_epi_trans_attends_over_the_merged_tokens_with_nine_heads(specs):
    model = specs["epi-trans"].build()
    encoder = model.transformer
    assert len(encoder.attention_norms) == 1 and encoder.attention[0].heads == 9
    assert encoder.attention[0].query.bias is None  # bias-free Q/K/V
    assert encoder.attention_norms[0].eps == 1e-8


@pytest.mark.parametrize("name", ("epi-mind", "epi-trans"))
def test_inference_dropout_option(specs, name):
    spec = specs[name]
    enhancer, promoter = kmer_batch(spec, batch=4)
    torch.manual_seed(0)
    deterministic = spec.build(tiny=True).eval()
    with torch.no_grad():
        assert torch.equal(deterministic(enhancer, promoter), deterministic(enhancer, promoter))
    torch.manual_seed(0)
    faithful = spec.build(tiny=True, inference_dropout=True).eval()
    with torch.no_grad():
        assert not torch.equal(faithful(enhancer, promoter), faithful(enhancer, promoter))


def test_att_layer_is_a_convex_combination_over_time():
    attention = layers.AttLayer(6, 4)
    assert sum(p.numel() for p in attention.parameters()) == 6 * 4 + 4 + 4
    same = torch.arange(6.0).expand(2, 5, 6)  # every time step identical
    assert torch.allclose(attention(same), same[:, 0])
    x = torch.randn(3, 7, 6)
    out = attention(x)
    assert (out <= x.amax(dim=1) + 1e-6).all() and (out >= x.amin(dim=1) - 1e-6).all()


def test_glorot_init_zeroes_biases_and_sets_recurrent_defaults():
    module = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Conv1d(4, 4, 3))
    layers.glorot_init_(module)
    assert not module[0].bias.any() and not module[1].bias.any()
    bound = (6 / (8 + 4)) ** 0.5
    assert module[0].weight.abs().max() <= bound
    lstm = layers.glorot_init_(torch.nn.LSTM(5, 3))
    assert torch.equal(lstm.bias_ih_l0[3:6], torch.ones(3)) and not lstm.bias_hh_l0.any()
    gru = layers.glorot_init_(torch.nn.GRU(5, 3))
    assert torch.allclose(gru.weight_hh_l0.T @ gru.weight_hh_l0, torch.eye(3), atol=1e-5)


def test_sinusoidal_encoding_values():
    table = layers.sinusoidal_encoding(4, 6)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert torch.isclose(table[3, 0], torch.sin(torch.tensor(3.0)))
    assert torch.isclose(table[3, 3], torch.cos(torch.tensor(3.0 / 10000 ** (2 / 6))))


def test_transformer_encoder_handles_new_lengths_and_keeps_positions_out_of_the_state_dict():
    encoder = layers.KerasTransformerEncoder(8, 2, 16, stacks=2).eval()
    assert encoder(torch.zeros(1, 5, 8)).shape == (1, 5, 8)
    assert encoder(torch.zeros(2, 9, 8)).shape == (2, 9, 8)
    assert not any("position" in key for key in encoder.state_dict())


@pytest.mark.parametrize("name", ["epi-mind", "epi-trans"])
def test_transformer_feedforward_biases_start_uniform_as_upstream(name):
    """The custom layer's add_weight(initializer='uniform'): U(-0.05, 0.05), not zeroed by the model's glorot init."""
    torch.manual_seed(0)
    model = epizoo.plugins.get_model(name).build()
    encoders = [m for m in model.modules() if type(m).__name__ == "KerasTransformerEncoder"]
    assert encoders
    for encoder in encoders:
        for block in encoder.feedforward:
            for layer in (block[0], block[2]):
                bias = layer.bias.detach()
                assert bias.abs().max() <= 0.05 and bias.std() > 0.02  # U(-0.05, 0.05) has SD 0.029
                weight = layer.weight.detach()
                limit = (6 / sum(weight.shape)) ** 0.5  # glorot-uniform kernels all the same
                assert weight.abs().max() <= limit and weight.std() > 0.5 * limit / 3**0.5
