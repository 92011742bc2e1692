"""The k-mer convolution as a table lookup (epizoo.nn): the same numbers as embedding + Conv1d."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from epizoo import plugins
from epizoo.errors import EpizooError
from epizoo.nn import EmbeddedConv1d, embedded_conv1d, resolve_path, set_kmer_conv_path

LOOKUP_MODELS = ("epivan", "epi-dlmh", "epi-mind", "epi-trans", "epi-dynfusion", "loco-epi")


def _close(lookup: torch.Tensor, plain: torch.Tensor, what: str, nonzero: bool = True) -> None:
    """Equal to float32 rounding: compared in float64, relative to the tensor's scale."""
    lookup, plain = lookup.double(), plain.double()
    scale = plain.abs().max().item()
    if not nonzero and scale == 0:
        assert not lookup.any(), f"{what}: zero on the plain path only"
        return
    assert scale > 0, f"{what}: all zeros, nothing compared"
    error = (lookup - plain).abs().max().item()
    assert error <= 2e-5 * scale + 1e-7, f"{what}: max difference {error:.3g} at scale {scale:.3g}"


def _layer_run(ids, embedding, conv, padding, path):
    embedding.zero_grad(set_to_none=True)
    conv.zero_grad(set_to_none=True)
    out = embedded_conv1d(ids, embedding, conv, padding, path)
    weights = torch.linspace(-1, 1, out.numel()).reshape(out.shape)  # a loss that weighs every output differently
    (out.tanh() * weights).sum().backward()
    return out.detach(), embedding.weight.grad, conv.weight.grad, conv.bias.grad


CASES = {
    "valid": dict(kernel=7, conv_padding=0, padding=(0, 0)),
    "symmetric same": dict(kernel=7, conv_padding="same", padding=(0, 0)),
    "pytorch same, even kernel": dict(kernel=6, conv_padding="same", padding=(0, 0)),
    "keras same, even kernel (EPI-DLMH)": dict(kernel=6, conv_padding=0, padding=(2, 3)),
    "integer conv padding": dict(kernel=5, conv_padding=2, padding=(0, 0)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lookup_equals_embedding_then_conv(case, dtype):
    options = CASES[case]
    torch.manual_seed(0)
    embedding = nn.Embedding(65, 12).to(dtype)
    conv = nn.Conv1d(12, 9, options["kernel"], padding=options["conv_padding"]).to(dtype)
    with torch.no_grad():
        embedding.weight[0] = 3.0  # id 0 is a real row: padding must not read it
    ids = torch.randint(1, 65, (4, 40))
    ids[0, 10:15] = 0
    ids[1, -3:] = 0  # N / padding ids at an edge, next to the zero padding
    ids[2, :4] = 0
    plain = _layer_run(ids, embedding, conv, options["padding"], "plain")
    lookup = _layer_run(ids, embedding, conv, options["padding"], "lookup")
    assert lookup[0].shape == plain[0].shape
    for what, a, b in zip(("output", "embedding grad", "conv weight grad", "conv bias grad"), lookup, plain):
        if dtype == torch.float64:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=what)
        else:
            _close(a, b, what)


def test_padding_is_a_zero_vector_not_id_zero():
    torch.manual_seed(1)
    embedding, conv = nn.Embedding(10, 4), nn.Conv1d(4, 3, 4)
    ids = torch.randint(1, 10, (2, 12))
    out = embedded_conv1d(ids, embedding, conv, (1, 2), "lookup")
    with torch.no_grad():
        embedding.weight[0] += 5.0
    assert torch.equal(out, embedded_conv1d(ids, embedding, conv, (1, 2), "lookup"))  # no id 0 in ids: row 0 unused
    vectors = nn.functional.pad(embedding(ids).transpose(1, 2), (1, 2))
    torch.testing.assert_close(out, conv(vectors))


def test_lookup_rejects_ids_outside_the_table():
    embedding, conv = nn.Embedding(10, 4), nn.Conv1d(4, 3, 3)
    with pytest.raises(EpizooError, match="0..9"):
        embedded_conv1d(torch.tensor([[1, 2, 10, 3]]), embedding, conv, path="lookup")


def test_auto_is_the_lookup_on_cpu(monkeypatch):
    assert resolve_path("auto", torch.device("cpu")) == "lookup"
    assert resolve_path("auto", torch.device("cuda")) == "plain"
    assert resolve_path("plain", torch.device("cpu")) == "plain"
    with pytest.raises(EpizooError, match="auto, plain, lookup"):
        resolve_path("fast", torch.device("cpu"))
    import epizoo.nn

    called = []
    real = epizoo.nn.lookup_embedded_conv1d
    monkeypatch.setattr(epizoo.nn, "lookup_embedded_conv1d", lambda *a: called.append(1) or real(*a))
    layer = EmbeddedConv1d()
    assert layer.path == "auto"
    layer(torch.randint(0, 10, (2, 8)), nn.Embedding(10, 4), nn.Conv1d(4, 3, 3))
    assert called == [1]


def test_every_lookup_model_is_listed_and_keeps_its_state_dict():
    with_layer = set()
    for name, spec in plugins.get_models().items():
        if spec.kind != "torch":
            continue
        model = spec.build(tiny=True)
        if any(isinstance(layer, EmbeddedConv1d) for layer in model.modules()):
            with_layer.add(name)
            assert not any("kmer_conv" in key for key in model.state_dict())  # the layer owns nothing
    assert with_layer == set(LOOKUP_MODELS)


def _model_run(model, enhancer, promoter, path):
    assert set_kmer_conv_path(model, path) == 2
    model.zero_grad(set_to_none=True)
    logits = model(enhancer, promoter)
    (logits * torch.linspace(0.5, 1.5, logits.numel())).sum().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def _inputs(spec, seed=0):
    hparams = spec.hparams(tiny=True)
    generator = torch.Generator().manual_seed(seed)
    enhancer = torch.randint(0, 4097, (3, hparams["enhancer_length"]), generator=generator)
    promoter = torch.randint(0, 4097, (3, hparams["promoter_length"]), generator=generator)
    enhancer[:, :5] = 0  # kmer6 left-pads with id 0
    promoter[1, 20:40] = 0  # a run of N
    return enhancer, promoter


@pytest.mark.parametrize("name", LOOKUP_MODELS)
def test_model_outputs_and_gradients_equal_on_both_paths(name):
    spec = plugins.get_model(name)
    torch.manual_seed(0)
    model = spec.build(tiny=True).eval()  # eval: no dropout, BatchNorm from running statistics
    enhancer, promoter = _inputs(spec)
    plain_logits, plain_grads = _model_run(model, enhancer, promoter, "plain")
    lookup_logits, lookup_grads = _model_run(model, enhancer, promoter, "lookup")
    _close(lookup_logits, plain_logits, "logits")
    assert lookup_grads.keys() == plain_grads.keys()
    checked = {
        "embedding.enhancer.weight",
        "embedding.promoter.weight",
        *(key for key in plain_grads if "conv" in key and key.endswith((".0.weight", ".0.bias", ".1.weight", ".1.bias"))),
    }
    assert {"embedding.enhancer.weight", "embedding.promoter.weight"} <= checked <= plain_grads.keys()
    assert len(checked) >= 6  # both tables, both first convs' weights and biases
    for key in plain_grads:  # every parameter, so the downstream layers too
        _close(lookup_grads[key], plain_grads[key], key, nonzero=key in checked)


@pytest.mark.parametrize("name", ["epivan", "epi-dlmh"])
def test_both_paths_run_under_bf16_autocast(name):
    spec = plugins.get_model(name)
    torch.manual_seed(0)
    model = spec.build(tiny=True).eval()
    enhancer, promoter = _inputs(spec)
    outputs = {}
    for path in ("plain", "lookup"):
        set_kmer_conv_path(model, path)
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(enhancer, promoter)
        logits.float().sum().backward()
        assert model.embedding.enhancer.weight.grad is not None
        outputs[path] = logits.detach().float()
    assert torch.isfinite(outputs["lookup"]).all()
    torch.testing.assert_close(outputs["lookup"], outputs["plain"], rtol=0.1, atol=0.1)  # bf16 rounding only


def test_lookup_under_bf16_autocast_matches_float32_to_bf16_rounding():
    torch.manual_seed(3)
    embedding, conv = nn.Embedding(200, 16), nn.Conv1d(16, 8, 9)
    ids = torch.randint(0, 200, (4, 120))
    reference = _layer_run(ids, embedding, conv, (4, 4), "plain")  # float32
    for path in ("plain", "lookup"):
        embedding.zero_grad(set_to_none=True)
        conv.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = embedded_conv1d(ids, embedding, conv, (4, 4), path)
        assert out.dtype == torch.bfloat16  # what the conv gives under autocast
        weights = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
        (out.float().tanh() * weights).sum().backward()
        got = (out.float(), embedding.weight.grad, conv.weight.grad, conv.bias.grad)
        for what, a, b in zip(("output", "embedding grad", "conv weight grad", "conv bias grad"), got, reference):
            assert a.dtype == torch.float32 or what == "output"
            error = (a.double() - b.double()).abs().max().item()
            assert error <= 0.03 * b.abs().max().item(), f"{path} {what}: {error:.3g}"


def test_auto_falls_back_to_plain_for_layers_the_lookup_does_not_cover():
    torch.manual_seed(4)
    ids = torch.randint(0, 10, (2, 16))
    for embedding, conv in (
        (nn.Embedding(10, 4), nn.Conv1d(4, 3, 3, stride=2)),
        (nn.Embedding(10, 4, padding_idx=0), nn.Conv1d(4, 3, 3)),
    ):
        torch.testing.assert_close(embedded_conv1d(ids, embedding, conv), embedded_conv1d(ids, embedding, conv, path="plain"))
        with pytest.raises(EpizooError, match="lookup needs"):
            embedded_conv1d(ids, embedding, conv, path="lookup")


def test_transformer_attention_written_out_on_cpu_is_sdpa():
    """The training-mode attention of EPI-Mind/EPI-Trans skips SDPA's math path on CPU: the same numbers."""
    from epizoo_zoo.layers import _SelfAttention

    torch.manual_seed(5)
    attention, x = _SelfAttention(24, 4, dropout=0.0), torch.randn(3, 17, 24)
    reference = attention(x, dropout_active=True)  # dropout 0: SDPA
    attention.dropout = 1e-12  # the written-out path, with (almost surely) nothing dropped
    torch.testing.assert_close(attention(x, dropout_active=True), reference, rtol=1e-5, atol=1e-6)
    attention.dropout = 0.5
    torch.manual_seed(6)
    dropped = attention(x, dropout_active=True)
    torch.manual_seed(6)
    q, k, v = (attention._split(layer(x)) for layer in (attention.query, attention.key, attention.value))
    probabilities = torch.softmax(q @ k.transpose(-2, -1) / 6**0.5, dim=-1)
    expected = (nn.functional.dropout(probabilities, 0.5, training=True) @ v).transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(dropped, expected, rtol=1e-5, atol=1e-6)
    torch.manual_seed(6)
    q, k, v = (attention._split(layer(x)) for layer in (attention.query, attention.key, attention.value))
    sdpa = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.5).transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(dropped, sdpa, rtol=1e-5, atol=1e-6)  # the same dropout draw as SDPA's math path
