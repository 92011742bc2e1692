"""One command line: the same spelling for the same thing in every command, a fast ``--help``,
and ``epizoo models`` readable at 80 columns."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("conventions") / "tiny.zarr"
    epizoo.simulate_store(path, n_pairs=60, n_contigs=2, cell_lines=1, seed=1)
    return str(path)


@pytest.mark.parametrize("command", ["build-store", "bench", "embed"])
def test_out_has_the_short_form_o(command):
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=120)
    assert result.exit_code == 0 and "-o, --out" in result.output


@pytest.mark.parametrize("command", ["bench", "embed", "inspect", "splits"])
def test_the_store_is_the_first_argument_everywhere(command):
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=120)
    assert result.output.startswith(f"Usage: cli {command} [OPTIONS] [STORE]")
    assert "--store" not in result.output  # the old spelling works, but is not advertised


def test_old_spellings_work_with_a_note(store, tmp_path):
    result = CliRunner().invoke(cli, ["inspect", "--store", store, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["store"] == store
    assert "note: --store PATH is deprecated; use the store as the first argument" in result.stderr
    both = CliRunner().invoke(cli, ["inspect", store, "--store", str(tmp_path / "other.zarr")])
    assert both.exit_code == 2 and "two stores given" in both.output
    missing = CliRunner().invoke(cli, ["inspect"])
    assert missing.exit_code == 2 and "Missing argument 'STORE'" in missing.output

    out = tmp_path / "one.zarr"
    built = CliRunner().invoke(cli, ["build-store", "--dataset", "synthetic", "--option", "n_pairs=60", "--option", "n_contigs=2",
                                     "--option", "cell_lines=2", "--cell-line", "SYN-A", "-o", str(out), "--no-progress", "--json"])
    assert built.exit_code == 0, built.output
    assert "note: --cell-line X (repeated) is deprecated; use --cell-lines SYN-A" in built.stderr
    info = json.loads(CliRunner().invoke(cli, ["inspect", str(out), "--json"]).stdout)
    assert {row["cell_line"] for row in info["counts"]} == {"SYN-A"}

    empty = CliRunner().invoke(cli, ["build-store", "--dataset", "synthetic", "--cell-lines", ",", "-o", str(tmp_path / "e.zarr")])
    assert empty.exit_code == 1 and "--cell-lines ',' names nothing" in empty.output
    assert not (tmp_path / "e.zarr").exists()


def test_help_lists_commands_without_importing_the_models():
    code = (
        "import sys; from epizoo.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='epizoo')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "build-store" in result.stdout and "bench" in result.stdout and "models" in result.stdout
    assert result.stdout.strip().endswith("False")


def test_models_table_fits_80_columns_and_a_name_shows_its_card():
    from epizoo.plugins import get_models

    result = CliRunner().invoke(cli, ["models"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(map(len, result.stdout.splitlines())) <= 80 and "…" not in result.stdout
    for name in get_models():
        assert f" {name} " in result.stdout  # whole names
    assert "1,371,657" in result.stdout  # whole parameter counts (epivan)

    card = CliRunner().invoke(cli, ["models", "EPIVAN"], terminal_width=80)
    assert card.exit_code == 0 and max(map(len, card.stdout.splitlines())) <= 80
    assert "epivan" in card.stdout and "citation" in card.stdout and "Bioinformatics" in card.stdout
    bracketed = CliRunner().invoke(cli, ["models", "epi-dlmh"], terminal_width=200)
    assert "[e, p, e-p, e*p]" in bracketed.stdout  # card text in brackets is shown, not read as markup
    one = json.loads(CliRunner().invoke(cli, ["models", "epivan", "--json", "--no-params"]).stdout)
    assert one["name"] == "epivan" and one["card"]["licence"]
    unknown = CliRunner().invoke(cli, ["models", "epivam"])
    assert unknown.exit_code == 1 and "epivan" in unknown.output and len(unknown.output.strip().splitlines()) == 1


def test_split_options_have_one_name_and_the_old_one_still_works_with_a_note(store):
    new = CliRunner().invoke(cli, ["splits", store, "--split", "loco", "--split-option", "valid_contigs=0", "--json"])
    old = CliRunner().invoke(cli, ["splits", store, "--split", "loco", "--option", "valid_contigs=0", "--json"])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert "note: --option is deprecated; use --split-option" in old.stderr
    for command in ("bench", "splits", "train-contacts"):
        help_text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        assert "--split-option" in help_text and "--option " not in help_text, command


def test_train_contacts_spells_options_as_bench_does():
    help_text = CliRunner().invoke(cli, ["train-contacts", "--help"], terminal_width=200).output
    for flag in ("--lr", "--max-pairs", "--split-option", "--precision", "--budget", "--epochs", "--batch-size", "-o, --out"):
        assert flag in help_text, flag
    for old in ("--learning-rate", "--max-windows", "--train ", "--valid ", "--test "):
        assert old not in help_text, old


def test_train_contacts_old_spellings_become_the_new_ones(monkeypatch, tmp_path, store):
    seen = {}

    def fake_train(spec, store, options, on_epoch=None):
        seen["options"] = options
        raise SystemExit(0)

    monkeypatch.setattr("epizoo.contact.train.train_contact_model", fake_train)
    result = CliRunner().invoke(cli, ["train-contacts", store, "--learning-rate", "0.01", "--max-windows", "3",
                                      "--train", "chr1", "--test", "chr2", "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert options.learning_rate == 0.01 and options.max_windows == 3
    assert options.split == {"train": ["chr1"], "test": ["chr2"]}
    assert "--learning-rate is deprecated; use --lr" in result.stderr
