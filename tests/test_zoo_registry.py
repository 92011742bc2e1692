"""One test over every registered model: tiny forward/backward on a stored batch, published sizes."""

from __future__ import annotations

import pytest

from epizoo import plugins
from epizoo.docs_gen import count_parameters

REGISTERED = sorted(plugins.get_models())


def test_the_built_in_zoo_is_registered():
    expected = {"epi-dynfusion", "epivan", "epi-dlmh", "epi-mind", "epi-trans", "loco-epi", "speid", "simcnn", "distance", "kmer"}
    assert expected <= set(REGISTERED)


@pytest.mark.parametrize("name", REGISTERED)
def test_tiny_model_trains_on_a_batch_from_a_tiny_store(name, epizoo_model_smoke, epizoo_tiny_store):
    spec = plugins.get_model(name)
    if spec.task == "contact-map":  # random windows: a pair store has no genome layer
        maps = epizoo_model_smoke(spec, batch=2)
        assert maps.shape[0] == 2 and maps.shape[1] == maps.shape[2] == spec.hparams(tiny=True)["n_bins"]
    elif spec.kind == "torch":
        logits = epizoo_model_smoke(spec, batch=6, store=epizoo_tiny_store)
        assert logits.shape == (6,)
    else:
        probabilities = epizoo_model_smoke(spec, batch=24, store=epizoo_tiny_store)
        assert probabilities.shape == (24, 2)


@pytest.mark.parametrize("name", [n for n in REGISTERED if plugins.get_model(n).published_parameters])
def test_default_configuration_has_the_published_parameter_count(name):
    spec = plugins.get_model(name)
    assert count_parameters(spec) == spec.published_parameters


@pytest.fixture(scope="module")
def models_table() -> dict[str, list[str]]:
    """``epizoo models --no-params`` at a width that keeps each row on one line: name -> its cells."""
    from click.testing import CliRunner

    from epizoo.cli import cli

    result = CliRunner().invoke(cli, ["models", "--no-params"], terminal_width=200)
    assert result.exit_code == 0, result.output
    cells = [[cell.strip() for cell in line.strip("│").split("│")] for line in result.stdout.splitlines() if line.startswith("│")]
    return {row[0]: row for row in cells}


@pytest.mark.parametrize("name", REGISTERED)
def test_models_shows_what_each_model_reads(name, models_table):
    """What a model reads and its windows come from its spec: windows only for models of sequence."""
    spec = plugins.get_model(name)
    _name, kind, reads, windows = models_table[name]
    assert kind == spec.kind
    if spec.task == "contact-map":
        assert reads.startswith("genome") and all(track in reads for track in spec.tracks) and windows == "—"
    elif "sequence" in spec.inputs:
        assert windows == f"{spec.enhancer_length}/{spec.promoter_length}" and "sequence" in reads
        assert reads.startswith(f"sequence ({spec.input_encoding})" if spec.kind == "torch" else "sequence")
    else:
        assert windows == "—" and "sequence" not in reads
    assert ("signals" in reads) == ("signals" in spec.inputs)
    if spec.task == "pair" and not spec.inputs:
        assert reads == "distance"
    from epizoo import docs_gen

    record = docs_gen.model_record(spec)
    assert (record["reads"], record["windows"]) == (reads, windows)  # --json says the same
