"""The plugin docs cover every hook, and docs/models.md is the generator's current output."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from epizoo import docs_gen, hookspecs, plugins

DOCS = Path(__file__).resolve().parents[1] / "docs"


def hook_signatures() -> list[str]:
    marker = hookspecs.hookspec.project_name + "_spec"
    return [
        f"{name}{inspect.signature(function)}"
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    ]


def test_every_hook_is_found():
    assert "register_models(register)" in hook_signatures()
    assert len(hook_signatures()) >= 6


@pytest.mark.parametrize("signature", hook_signatures())
def test_plugin_docs_give_each_hook_with_its_signature(signature):
    assert f"`{signature}`" in (DOCS / "plugins.md").read_text(), f"docs/plugins.md lacks the hook `{signature}`"


def test_models_docs_are_generated_from_the_registry(monkeypatch):
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    plugins.reset()
    expected = docs_gen.render_models_markdown(plugins.get_models())
    plugins.reset()
    assert (DOCS / "models.md").read_text() == expected, "docs/models.md is stale: run python -m epizoo.docs_gen > docs/models.md"


def test_models_docs_list_every_model_with_its_card():
    text = (DOCS / "models.md").read_text()
    plugins.reset()
    for spec in plugins.get_models().values():
        assert f"## {spec.name}" in text
        assert spec.card.licence.split()[0] in text
    plugins.reset()
