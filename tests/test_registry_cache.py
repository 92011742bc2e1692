"""Listing the models, datasets and plugins, and every --help, without importing torch: the cached
listing (epizoo.registry_cache), checked in fresh interpreters through sys.modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from epizoo import registry_cache

# Runs the CLI in a fresh interpreter and prints whether torch, sklearn were imported, then the output.
PROBE = """
import json, os, sys
from click.testing import CliRunner
from epizoo.cli import cli
if os.environ.get("LOAD_PLUGINS_FIRST"):  # the live registry, for comparison
    from epizoo.plugins import get_models
    get_models()
result = CliRunner().invoke(cli, sys.argv[1:])
print(json.dumps({"torch": "torch" in sys.modules, "sklearn": "sklearn" in sys.modules,
                  "code": result.exit_code, "output": result.output}))
"""


def probe(*args: str, cache, live: bool = False) -> dict:
    env = {**os.environ, registry_cache.CACHE_ENV: str(cache), **({"LOAD_PLUGINS_FIRST": "1"} if live else {})}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    first = probe("models", "--no-params", cache=cache)
    assert first["code"] == 0 and first["torch"]  # the first listing loads the plugins, and keeps what it found
    assert len(list(cache.glob("registry-*.json"))) == 1
    return cache, first["output"]


@pytest.mark.parametrize("args", [("models", "--no-params"), ("datasets",), ("plugins",), ("models", "epivan", "--no-params"),
                                  ("models", "--filter", "epi*", "--no-params", "--json")])
def test_listings_from_the_cache_import_neither_torch_nor_sklearn(warm_cache, args):
    cache, _ = warm_cache
    result = probe(*args, cache=cache)
    assert result["code"] == 0, result["output"]
    assert not result["torch"] and not result["sklearn"]


def test_cached_listing_says_what_the_plugins_say(warm_cache):
    cache, first = warm_cache
    assert probe("models", "--no-params", cache=cache)["output"] == first
    listed = probe("models", "--no-params", "--json", cache=cache)
    live = probe("models", "--no-params", "--json", cache=cache, live=True)
    assert live["torch"] and not listed["torch"]
    assert json.loads(listed["output"]) == json.loads(live["output"])
    unknown = probe("models", "epivn", cache=cache)
    assert unknown["code"] == 1 and "did you mean epivan" in unknown["output"]


@pytest.mark.parametrize("command", ["", "bench", "report", "predict", "scan", "explain", "embed", "models", "datasets",
                                     "plugins", "build-store", "inspect", "splits", "train-contacts"])
def test_help_imports_neither_torch_nor_sklearn(tmp_path, command):
    result = probe(*command.split(), "--help", cache=tmp_path)
    assert result["code"] == 0 and "Usage" in result["output"]
    assert not result["torch"] and not result["sklearn"]


def test_fingerprint_changes_with_a_plugin_file_and_with_epizoo_plugins(tmp_path, monkeypatch):
    module = tmp_path / "plugin.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(registry_cache, "_package_dirs", lambda: [tmp_path])
    before = registry_cache.fingerprint()
    module.write_text("x = 22\n")  # an edited plugin (editable install): new size
    assert registry_cache.fingerprint() != before
    edited = registry_cache.fingerprint()
    monkeypatch.setenv("EPIZOO_PLUGINS", "baselines")
    assert registry_cache.fingerprint() != edited


def test_a_process_with_loaded_plugins_lists_its_live_registry(tmp_path, monkeypatch):
    from epizoo import plugins

    plugins.get_models()  # loaded here, as after register_plugin in a notebook
    monkeypatch.setenv(registry_cache.CACHE_ENV, str(tmp_path))
    assert [r["name"] for r in registry_cache.listing()["models"]] == sorted(plugins.get_models())
    assert not list(tmp_path.glob("registry-*.json"))  # nothing kept: a run-time registry is this process's own
