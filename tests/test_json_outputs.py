"""Every ``--json`` output and result file is JSON: NaN and infinities are written as null."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.jsontext import dumps, finite


def strict(text: str):
    """``json.loads`` that refuses NaN, Infinity and -Infinity, as jq and JavaScript do."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("json")
    store = root / "s.zarr"
    epizoo.simulate_store(store, n_pairs=80, n_contigs=3, cell_lines=1, ratio=2, seed=3)
    # the distance model is fitted once: its history's loss is NaN in memory
    invoke("bench", str(store), "--models", "distance", "--tiny", "--folds", "chr1", "--max-pairs", "40", "--threads", "1",
           "--no-progress", "-o", str(root / "run"))
    return str(store), root / "run"


def test_the_helper_makes_nan_null_everywhere():
    value = {"a": math.nan, "b": [np.float32("inf"), np.int64(3)], "c": np.array([1.0, -np.inf]), "d": (np.float64("nan"),)}
    assert finite(value) == {"a": None, "b": [None, 3], "c": [1.0, None], "d": [None]}
    assert strict(dumps(value)) == {"a": None, "b": [None, 3], "c": [1.0, None], "d": [None]}
    assert strict(dumps({"x": object()}, default=lambda _: math.nan)) == {"x": None}  # what a default brings back too


def test_result_files_of_a_bench_with_a_nan_metric_are_json(run):
    _store, out = run
    files = sorted(out.rglob("*.json"))
    assert any(path.name == "result.json" for path in files) and any(path.name == "checkpoint.json" for path in files)
    for path in files:
        strict(path.read_text())
    result = strict(next(out.rglob("result.json")).read_text())
    assert result["history"][0]["loss"] is None  # NaN in memory


def test_json_outputs_of_the_commands_are_json(run):
    store, out = run
    report = strict(invoke("report", str(out), "--json").stdout)
    assert report
    commands = (("inspect", store, "--json"), ("splits", store, "--split", "loco", "--json"), ("models", "distance", "--json", "--no-params"))
    for args in commands:
        strict(invoke(*args).stdout)
