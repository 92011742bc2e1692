"""Expected outputs, kipoi-style: every registered model's math is pinned by a committed fixture.

``tests/fixtures/expected_outputs/<model>.json`` holds the seed the weights come from
(``torch.manual_seed`` before the build), the tiny hyperparameters, a fixed input and the output
it gave (torch: eval-mode logits of 3 pairs; scikit-learn: ``predict_proba`` after a fit on 64
seeded synthetic pairs), with the library versions it was made with. A refactor that changes a
model's math fails here. Models with a k-mer convolution are checked on both of its paths
(``epizoo.nn``: plain embedding + Conv1d, and the table lookup) against the same output.

A model without a fixture fails. To create one, or to accept an intended change of the math::

    EPIZOO_REGENERATE_EXPECTED=1 python -m pytest tests/test_expected_outputs.py -k MODEL

then commit the JSON file with a word on why the output changed. The functions behind this live
in ``epizoo.testing`` (``expected_output_case``, ``assert_expected_output``), for plugin authors.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from epizoo import plugins
from epizoo.testing import (
    assert_expected_output,
    expected_output_case,
    kmer_conv_paths,
    read_expected_output,
    write_expected_output,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "expected_outputs"
REGENERATE = "EPIZOO_REGENERATE_EXPECTED"
MODELS = sorted(plugins.get_models())


def fixture_path(name: str, directory: Path = FIXTURES) -> Path:
    return directory / f"{name}.json"


def load_case(name: str, directory: Path = FIXTURES) -> dict:
    """The model's fixture; a missing one fails with how to create it (or writes it, when asked)."""
    path = fixture_path(name, directory)
    if os.environ.get(REGENERATE) == "1":
        write_expected_output(path, expected_output_case(plugins.get_model(name)))
    if not path.exists():
        pytest.fail(
            f"model {name!r} has no expected-output fixture ({path.relative_to(path.parents[3]) if directory == FIXTURES else path}); "
            f"every registered model needs one. Create it with "
            f"`{REGENERATE}=1 python -m pytest tests/test_expected_outputs.py -k {name}` and commit it.",
            pytrace=False,
        )
    return read_expected_output(path)


@pytest.mark.parametrize("name", MODELS)
def test_model_gives_its_expected_output(name):
    spec = plugins.get_model(name)
    case = load_case(name)
    assert case["model"] == name and case["kind"] == spec.kind
    failures = []
    for path in kmer_conv_paths(spec, case):  # both k-mer conv paths against the same output
        try:
            assert_expected_output(spec, case, kmer_conv_path=path)
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)


def test_every_fixture_belongs_to_a_registered_model():
    stale = sorted(path.stem for path in FIXTURES.glob("*.json") if path.stem not in MODELS)
    assert not stale, f"expected-output fixtures of models that are not registered: {stale}; remove them"


def test_kmer_models_are_checked_on_both_paths():
    for name in MODELS:
        spec = plugins.get_model(name)
        if spec.input_encoding == "kmer6":
            assert kmer_conv_paths(spec, load_case(name)) == ["plain", "lookup"], name


# ---------------------------------------------------------------- the check itself is checked


def test_a_model_without_fixture_fails_saying_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.delenv(REGENERATE, raising=False)
    with pytest.raises(pytest.fail.Exception, match=f"{REGENERATE}=1 python -m pytest tests/test_expected_outputs.py -k epivan"):
        load_case("epivan", directory=tmp_path)


def test_a_perturbed_layer_fails_the_check(monkeypatch):
    """A change of math as small as scaling one linear layer's output by 1.001 is caught."""
    import torch

    spec = plugins.get_model("epizoo-cnn")
    case = load_case("epizoo-cnn")
    assert_expected_output(spec, case)
    linear_forward = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: linear_forward(self, x) * 1.001)
    with pytest.raises(AssertionError, match="epizoo-cnn: output changed"):
        assert_expected_output(spec, case)


def test_a_perturbed_lookup_path_fails_only_on_that_path(monkeypatch):
    """Both k-mer conv paths are really run: perturbing the lookup leaves the plain path passing."""
    from epizoo import nn as epizoo_nn

    spec = plugins.get_model("epivan")
    case = load_case("epivan")
    lookup = epizoo_nn.lookup_embedded_conv1d
    monkeypatch.setattr(epizoo_nn, "lookup_embedded_conv1d", lambda *args, **kwargs: lookup(*args, **kwargs) * 1.01)
    assert_expected_output(spec, case, kmer_conv_path="plain")
    with pytest.raises(AssertionError, match=r"epivan \(k-mer conv path lookup\): output changed"):
        assert_expected_output(spec, case, kmer_conv_path="lookup")


def test_perturbed_sklearn_features_fail_the_check():
    """The distance baseline without its is_trans column is another model, and is caught."""
    spec = plugins.get_model("distance")
    case = load_case("distance")
    assert_expected_output(spec, case)

    def without_is_trans(enhancer, promoter, distance):
        features = spec.features(enhancer, promoter, distance)
        features[:, 1] = 0.0
        return features

    with pytest.raises(AssertionError, match="distance: output changed"):
        assert_expected_output(replace(spec, features=without_is_trans), case)


def test_fixtures_are_small():
    for path in FIXTURES.glob("*.json"):
        assert path.stat().st_size < 32_000, f"{path.name} is {path.stat().st_size} bytes; keep fixtures small"
