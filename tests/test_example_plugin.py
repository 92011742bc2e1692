"""The tutorial's example plugin installs as a separate package, shows up in epizoo, and passes
its own tests; the tutorial quotes its files exactly."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLE = DOCS / "example-plugin"
EPIZOO = (sys.executable, "-c", "from epizoo.cli import main; main()")  # the console script, in this venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example plugin pip-installed into a private target folder (built from a copy, so the
    docs folder gets no build leftovers)."""
    root = tmp_path_factory.mktemp("example-plugin")
    source, target = root / "source", root / "target"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    return {"root": root, "source": source, "target": target}


def run_with_plugin(installed: dict[str, Path], *command: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(installed["target"]), **env}
    return subprocess.run(command, cwd=installed["root"], env=environment, capture_output=True, text=True, timeout=300)


def test_installed_plugin_is_listed_by_epizoo_models(installed):
    result = run_with_plugin(installed, *EPIZOO, "models", "--filter", "tiny*", "--json")
    assert result.returncode == 0, result.stderr
    [record] = json.loads(result.stdout)
    assert record["name"] == "tinycnn"
    assert record["aliases"] == ["tiny-cnn"]
    assert record["input_encoding"] == "onehot"
    assert record["parameters"] == record["published_parameters"] == 3425
    assert record["card"]["licence"] == "MIT"


def test_example_plugin_passes_its_own_tests(installed):
    tests = installed["source"] / "tests"
    result = run_with_plugin(
        installed, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(installed["source"]), str(tests),
        EPIZOO_PLUGINS="tinycnn",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout[-1000:]


def quoted_files(markdown: str) -> list[tuple[str, str]]:
    """(path, code) for every fenced block introduced by a line such as **`epizoo_tinycnn/model.py`**."""
    pattern = re.compile(r"^\*\*`([^`]+)`\*\*\s*\n+```[a-z]*\n(.*?)^```", re.S | re.M)
    return pattern.findall(markdown)


def test_tutorial_quotes_every_file_of_the_example_exactly():
    quoted = dict(quoted_files((DOCS / "writing-a-plugin.md").read_text()))
    files = {"pyproject.toml", "epizoo_tinycnn/model.py", "epizoo_tinycnn/__init__.py", "tests/test_tinycnn.py"}
    assert set(quoted) == files
    for path, code in quoted.items():
        assert code == (EXAMPLE / path).read_text(), f"docs/writing-a-plugin.md quotes an outdated {path}"
