"""The README and docs/ run as written: every ``epizoo`` command line in their console blocks parses
with today's CLI (command names and options), the README's notebook block runs, and its commands
that need no real genome run on the synthetic store. docs/walkthrough.md's Python blocks run in
tests/test_walkthrough.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Placeholders a page may write in a command: [optional], A|B, $VARIABLE, <name>, ...
PLACEHOLDER = ("[", "...", "…", "$", "<", ">", "{")


def console_commands(text: str) -> list[str]:
    """The epizoo command lines of a page's console blocks: continuations joined, comments cut,
    ``a && b`` and ``a; b`` split, ``.venv/bin/epizoo`` and ``python -m epizoo`` read as ``epizoo``."""
    found = []
    for block in re.findall(r"```(?:console|bash|sh|shell)\n(.*?)```", text, flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            for part in re.split(r"&&|;|\|", line.strip()):
                match = re.match(r"^(?:\$ )?(?:\S*/)?(?:epizoo|python -m epizoo)\s+(.*)$", part.strip())
                if match:
                    found.append(re.sub(r"\s+#.*$", "", match.group(1)).strip())
    return found


def concrete(page: Path) -> list[list[str]]:
    commands = [shlex.split(body) for body in console_commands(page.read_text())]
    return [tokens for tokens in commands if tokens and not any(mark in t for t in tokens for mark in PLACEHOLDER)]


def test_the_pages_hold_commands_to_check():
    assert sum(len(concrete(page)) for page in PAGES) >= 50


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_line_of_the_docs_parses(page):
    root = click.Context(cli, info_name="epizoo")
    for tokens in concrete(page):
        command = cli.get_command(root, tokens[0])
        assert command is not None, f"{page.name}: `epizoo {shlex.join(tokens)}`: no command {tokens[0]!r}"
        try:
            command.make_context(tokens[0], tokens[1:], parent=root)
        except click.ClickException as exc:
            pytest.fail(f"{page.name}: `epizoo {shlex.join(tokens)}`: {exc.format_message()}")


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory):
    """A folder where the README's ``tf.zarr`` is the synthetic store."""
    folder = tmp_path_factory.mktemp("readme")
    epizoo.simulate_store(folder / "tf.zarr", n_pairs=120, n_contigs=3, cell_lines=1, seed=4)
    return folder


def test_the_readme_notebook_block_runs(readme_folder, monkeypatch):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## In a notebook"):]
    blocks = re.findall(r"```python\n(.*?)```", section[: section.index("\n## ", 1)], flags=re.S)
    assert blocks
    monkeypatch.chdir(readme_folder)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102: the README's own code
    assert namespace["folds"] and namespace["ds"].sizes["pairs"] == 120


def test_the_readme_commands_on_a_store_run(readme_folder, monkeypatch):
    """The README's commands on tf.zarr: inspect as written; bench as written but small (--tiny, one
    fold, two models, the CPU); report as written on that run."""
    commands = [tokens for tokens in concrete(ROOT / "README.md") if "tf.zarr" in tokens or tokens[0] == "report"]
    assert {tokens[0] for tokens in commands} >= {"inspect", "bench", "report"}
    monkeypatch.chdir(readme_folder)
    small = {"--models": "distance,epizoo-cnn", "--device": "cpu"}
    for tokens in commands:
        if tokens[0] == "build-store":
            continue  # needs hg19.fa
        if tokens[0] == "bench":
            tokens = [small.get(before, token) for before, token in zip(["", *tokens], tokens)]
            tokens += ["--tiny", "--folds", "chr1", "--threads", "1", "--no-progress"]
        result = CliRunner().invoke(cli, tokens)
        assert result.exit_code == 0, f"epizoo {shlex.join(tokens)}: {result.output}"
