"""Tests of the TinyCNN plugin, written with the fixtures of epizoo's pytest plugin."""

import torch

from epizoo import plugins
from epizoo.docs_gen import count_parameters

from epizoo_tinycnn import SPEC, __version__


def test_the_installed_plugin_registers_tinycnn():
    assert plugins.get_model("tiny-cnn") is plugins.get_models()["tinycnn"]
    [row] = [row for row in plugins.list_plugins() if row["name"] == "tinycnn"]
    assert row["version"] == __version__  # read from the installed distribution
    assert row["hooks"] == ["register_models"]


def test_forward_and_backward_at_tiny_size(epizoo_model_smoke):
    logits = epizoo_model_smoke(SPEC, batch=3)
    assert logits.shape == (3,)


def test_runs_on_sequences_of_a_store(epizoo_model_smoke, epizoo_tiny_store):
    logits = epizoo_model_smoke(SPEC, batch=4, store=epizoo_tiny_store)
    assert logits.shape == (4,)


def test_parameter_count_matches_the_spec():
    assert count_parameters(SPEC) == SPEC.published_parameters


def test_any_length_gives_one_logit_per_pair():
    model = SPEC.build(tiny=True).eval()
    enhancer, promoter = torch.zeros(2, 4, 333), torch.zeros(2, 4, 77)
    assert model(enhancer, promoter).shape == (2,)


def test_registered_plugin_fixture_adds_a_variant(epizoo_registered_plugin):
    from dataclasses import replace

    from epizoo.hookspecs import hookimpl

    class WideVariant:
        @staticmethod
        @hookimpl
        def register_models(register):
            register(replace(SPEC, name="tinycnn-wide", aliases=(), default_hparams={**SPEC.default_hparams, "filters": 64}))

    epizoo_registered_plugin(WideVariant, name="wide-variant")
    assert plugins.get_model("tinycnn-wide").default_hparams["filters"] == 64
