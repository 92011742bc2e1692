"""The plugin manager: entry points, EPIZOO_PLUGINS, broken plugins, contract errors, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from epizoo import plugins
from epizoo.cli import cli
from epizoo.errors import UnknownNameError

MODEL_PLUGIN = """
import torch
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

class Tiny(torch.nn.Module):
    def __init__(self, enhancer_length, promoter_length, width=3):
        super().__init__()
        self.linear = torch.nn.Linear(8, width)
        self.out = torch.nn.Linear(width, 1)

    def forward(self, enhancer, promoter):
        pooled = torch.cat([enhancer.mean(-1), promoter.mean(-1)], dim=1)
        return self.out(self.linear(pooled)).squeeze(-1)

@hookimpl
def register_models(register):
    register(ModelSpec(
        name={name!r}, aliases={aliases!r}, factory=Tiny, input_encoding="onehot",
        card=ModelCard(title="Tiny", authors="A. Author", citation="A. Author 2024", licence="MIT"),
        recipe=TrainingRecipe(), enhancer_length=40, promoter_length=30,
    ))
"""


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake distribution with an ``epizoo`` entry point: ``make(name, source)``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: list[str] = []

    def make(name: str, source: str, version: str = "1.2.3") -> str:
        module = f"fake_epizoo_{name}_{len(modules)}_{abs(hash(str(tmp_path))) % 10**6}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        dist = tmp_path / f"fake_{name}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-{name}\nVersion: {version}\n")
        (dist / "entry_points.txt").write_text(f"[epizoo]\n{name} = {module}\n")
        modules.append(module)
        return module

    yield make
    for module in modules:
        sys.modules.pop(module, None)
    plugins.reset()


def use_only(monkeypatch: pytest.MonkeyPatch, names: str) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, names)
    plugins.reset()


def model_plugin(name: str, aliases: tuple[str, ...] = ()) -> str:
    return MODEL_PLUGIN.format(name=name, aliases=aliases)


def test_entry_point_plugin_registers_models_with_version_and_hooks(make_plugin, monkeypatch):
    module = make_plugin("tinyplug", model_plugin("tiny-model", ("TinyAlias",)))
    use_only(monkeypatch, "tinyplug")
    assert list(plugins.get_models()) == ["tiny-model"]
    assert plugins.get_model("tinyalias").name == "tiny-model"
    assert plugins.get_model("TINY-MODEL").name == "tiny-model"
    row = next(row for row in plugins.list_plugins() if row["name"] == "tinyplug")
    assert row == {
        "name": "tinyplug", "version": "1.2.3", "hooks": ["register_models"],
        "module": module, "default": False, "error": None,
    }


def test_unknown_model_suggests_close_names(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    use_only(monkeypatch, "tinyplug")
    with pytest.raises(UnknownNameError, match="did you mean tiny-model"):
        plugins.get_model("tiny-modle")


def test_empty_env_var_loads_no_entry_points_but_keeps_defaults(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    use_only(monkeypatch, "")
    assert plugins.get_models() == {}
    names = {row["name"] for row in plugins.list_plugins()}
    assert names and names <= set(plugins.DEFAULT_PLUGINS)
    assert "onehot" in plugins.get_encoders()


def test_env_var_selects_among_entry_points(make_plugin, monkeypatch):
    make_plugin("first", model_plugin("first-model"))
    make_plugin("second", model_plugin("second-model"))
    use_only(monkeypatch, " second ,")
    assert list(plugins.get_models()) == ["second-model"]
    monkeypatch.delenv(plugins.ENV_VAR)
    plugins.reset()
    assert {"first-model", "second-model"} <= set(plugins.get_models())


def test_plugin_failing_on_import_is_reported_and_cli_survives(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    make_plugin("broken", "raise RuntimeError('boom at import')\n")
    use_only(monkeypatch, "tinyplug,broken")
    assert list(plugins.get_models()) == ["tiny-model"]
    assert plugins.load_errors["broken"] == "RuntimeError: boom at import"

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["failed"] == [{"name": "broken", "error": "RuntimeError: boom at import"}]
    assert "warning: plugin 'broken' skipped: RuntimeError: boom at import" in result.stderr
    assert result.stderr.count("'broken'") == 1

    result = CliRunner().invoke(cli, ["models", "--json", "--no-params"])
    assert result.exit_code == 0, result.output
    assert [model["name"] for model in json.loads(result.stdout)] == ["tiny-model"]


def test_plugin_whose_register_hook_raises_is_skipped_and_reported(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    make_plugin("halfway", """
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_models(register):
            raise ValueError("weights file missing")
    """)
    use_only(monkeypatch, "tinyplug,halfway")
    assert list(plugins.get_models()) == ["tiny-model"]
    assert plugins.load_errors["halfway"] == "register_models failed: ValueError: weights file missing"
    row = next(row for row in plugins.list_plugins() if row["name"] == "halfway")
    assert row["error"].startswith("register_models failed")

    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "failed: halfway: register_models failed" in result.stdout


def test_plugin_registering_a_wrong_object_is_skipped(make_plugin, monkeypatch):
    make_plugin("wrong", """
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_models(register):
            register({"name": "not-a-spec"})
    """)
    use_only(monkeypatch, "wrong")
    assert plugins.get_models() == {}
    assert "takes an epizoo.zoo.ModelSpec, got dict" in plugins.load_errors["wrong"]


def test_misspelt_hook_fails_loudly_naming_plugin_and_hook(make_plugin, monkeypatch):
    make_plugin("typo", """
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_model(register):
            pass
    """)
    use_only(monkeypatch, "typo")
    with pytest.raises(plugins.PluginError, match=r"plugin 'typo' implements unknown hook 'register_model' \(did you mean register_models\?\)"):
        plugins.get_plugin_manager()

    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "unknown hook 'register_model'" in result.output


def test_hook_with_an_unknown_argument_fails_loudly(make_plugin, monkeypatch):
    make_plugin("badargs", """
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_models(register, weights):
            pass
    """)
    use_only(monkeypatch, "badargs")
    with pytest.raises(plugins.PluginError, match="plugin 'badargs' is invalid: .*weights"):
        plugins.get_plugin_manager()


def test_duplicate_model_name_names_both_plugins(make_plugin, monkeypatch):
    make_plugin("one", model_plugin("same-name"))
    make_plugin("two", model_plugin("same-name"))
    use_only(monkeypatch, "one,two")
    with pytest.raises(plugins.DuplicateNameError, match="plugin 'one'.*plugin 'two'"):
        plugins.get_models()


def test_alias_clashing_with_another_models_name_is_an_error(make_plugin, monkeypatch):
    make_plugin("one", model_plugin("alpha"))
    make_plugin("two", model_plugin("beta", ("ALPHA",)))
    use_only(monkeypatch, "one,two")
    with pytest.raises(plugins.DuplicateNameError, match="'alpha' is registered by plugin 'one'.*plugin 'two' \\(for 'beta'\\)"):
        plugins.get_models()
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_models_filter_matches_names_and_aliases(make_plugin, monkeypatch):
    make_plugin("one", model_plugin("epi-alpha"))
    make_plugin("two", model_plugin("beta", ("epi-b",)))
    make_plugin("three", model_plugin("gamma"))
    use_only(monkeypatch, "one,two,three")
    result = CliRunner().invoke(cli, ["models", "--filter", "EPI*", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [record["name"] for record in records] == ["beta", "epi-alpha"]
    assert records[0]["parameters"] == (8 * 3 + 3) + (3 + 1)
    assert records[0]["card"]["licence"] == "MIT"
    assert records[0]["recipe"]["optimizer"] == "adam"
    assert records[0]["factory"].endswith(":Tiny")

    result = CliRunner().invoke(cli, ["models", "--filter", "zzz*"])
    assert result.exit_code == 1
    assert "no model name or alias matches 'zzz*'" in result.output

    result = CliRunner().invoke(cli, ["models", "--filter", "gam?a"], terminal_width=200)
    assert result.exit_code == 0
    assert "gamma" in result.stdout and "epi-alpha" not in result.stdout and "31" in result.stdout


def test_plugins_json_lists_default_and_entry_point_plugins(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    use_only(monkeypatch, "tinyplug")
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    rows = {row["name"]: row for row in listing["plugins"]}
    assert rows["tinyplug"]["version"] == "1.2.3"
    assert rows["tinyplug"]["hooks"] == ["register_models"]
    assert rows["epizoo.encoders"]["default"] is True
    assert "register_encoders" in rows["epizoo.encoders"]["hooks"]
    assert listing["failed"] == []


def test_register_commands_hook_adds_commands_and_survives_a_failing_one(make_plugin, monkeypatch):
    make_plugin("cmds", """
        import click
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")
    """)
    make_plugin("badcmds", """
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            raise KeyError("oops")
    """)
    use_only(monkeypatch, "cmds,badcmds")

    @click.group()
    def group():
        pass

    plugins.add_plugin_commands(group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0
    assert result.stdout == "hello from a plugin\n"
    assert "plugin 'badcmds' skipped: register_commands failed: KeyError: 'oops'" in result.stderr


def test_registered_plugin_fixture_adds_a_plugin_for_one_test(epizoo_registered_plugin, monkeypatch):
    class Extra:
        @staticmethod
        @plugins.hookspecs.hookimpl
        def register_metrics(register):
            register("always-half", lambda labels, scores: 0.5, "a constant")

    use_only(monkeypatch, "")
    name = epizoo_registered_plugin(Extra(), name="extra")
    assert name == "extra"
    assert plugins.get_metric("always-half").plugin == "extra"
    assert plugins.get_metric("always-half").function([0, 1], [0.1, 0.9]) == 0.5


def test_registered_plugin_fixture_left_no_trace():
    plugins.reset()
    with pytest.raises(UnknownNameError):
        plugins.get_metric("always-half")


def fake_spec(**changes):
    from dataclasses import replace

    from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

    card = ModelCard(title="t", authors="a", citation="c", licence="MIT")
    spec = ModelSpec(name="fake", factory=None, card=card, recipe=TrainingRecipe(), enhancer_length=20, promoter_length=10)
    return replace(spec, **changes)


def test_smoke_fixture_passes_a_sound_torch_model(make_plugin, monkeypatch, epizoo_model_smoke):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    use_only(monkeypatch, "tinyplug")
    logits = epizoo_model_smoke(plugins.get_model("tiny-model"), batch=5)
    assert tuple(logits.shape) == (5,)


def test_smoke_fixture_catches_wrong_logit_shape(epizoo_model_smoke):
    import torch

    class TwoColumns(torch.nn.Module):
        def __init__(self, enhancer_length, promoter_length):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, enhancer, promoter):
            return self.linear(enhancer.mean(-1))  # (batch, 2): not logits of shape (batch,)

    with pytest.raises(AssertionError, match=r"logits shape \(4, 2\), expected \(4,\)"):
        epizoo_model_smoke(fake_spec(factory=TwoColumns, input_encoding="onehot"))


def test_smoke_fixture_fits_a_sklearn_model(epizoo_model_smoke):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    def gc_and_distance(enhancer, promoter, distance):
        gc = lambda codes: np.isin(codes, (1, 2)).mean(axis=1)  # noqa: E731
        trans = distance < 0  # coords.TRANS_DISTANCE: the smoke check includes pairs across contigs
        return np.column_stack([gc(enhancer), gc(promoter), np.log10(np.where(trans, 1e9, distance)), trans])

    spec = fake_spec(factory=lambda enhancer_length, promoter_length: LogisticRegression(), kind="sklearn",
                     input_encoding="", features=gc_and_distance)
    probabilities = epizoo_model_smoke(spec, batch=12)
    assert probabilities.shape == (12, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_env_var_naming_an_uninstalled_plugin_is_reported(make_plugin, monkeypatch):
    make_plugin("tinyplug", model_plugin("tiny-model"))
    use_only(monkeypatch, "tinyplug,tinyplgu")
    assert list(plugins.get_models()) == ["tiny-model"]
    assert plugins.load_errors["tinyplgu"].startswith("named in EPIZOO_PLUGINS but not installed (installed plugins: ")
    assert "tinyplug" in plugins.load_errors["tinyplgu"]


def test_builtin_command_starts_without_loading_the_plugins():
    """`epizoo inspect --help` resolves a built-in command: no model, so no torch, is imported."""
    code = (
        "import sys; from epizoo.cli import cli\n"
        "try:\n    cli.main(['inspect', '--help'], prog_name='epizoo')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: epizoo inspect" in result.stdout
    assert result.stdout.strip().endswith("False")


def test_plugin_commands_load_lazily_on_the_main_cli(make_plugin, monkeypatch):
    make_plugin("greeter", """
        import click
        from epizoo.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def greet():
                click.echo("greetings from a plugin")
    """)
    use_only(monkeypatch, "greeter")
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # leave the shared group as it was
    monkeypatch.setattr(cli, "plugins_added", False)
    monkeypatch.setattr(cli, "callback", cli.callback)
    result = CliRunner().invoke(cli, ["greet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "greetings from a plugin\n"
    assert "greet" in CliRunner().invoke(cli, ["--help"]).stdout


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    from epizoo.cli import main

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    cli.add_command(click.Command("sleepy", callback=interrupt))
    monkeypatch.setattr(sys, "argv", ["epizoo", "sleepy"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"
