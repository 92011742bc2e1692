"""Store integrity and staging edges: the manifest, damaged stores, interrupted --force, races, full disks."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.datasets.base import LoadedDataset
from epizoo.errors import EpizooError, InputFileError, StoreError
from epizoo.sources.genome import ArrayGenome, RegionSequences
from epizoo.store import build as build_module
from epizoo.store.build import build_store
from epizoo.store.integrity import MANIFEST, check_store, verify_store
from epizoo.store.io import open_store

WINDOWS = {"enhancer_window": 300, "promoter_window": 200, "n_shifts": 4, "shift_step": 25}


def _genome() -> ArrayGenome:
    rng = np.random.default_rng(5)
    return ArrayGenome({name: rng.integers(0, 4, 5000, dtype=np.int8) for name in ("chr1", "chr2")})


PAIRS = pd.DataFrame(
    [
        ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t", ""),
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "GM", 0, "t", ""),
        ("chr2", 2000, 2400, "chr2", 3500, 3501, "GM", 1, "t", ""),
        ("chr2", 100, 400, "chr2", 4500, 4501, "GM", 0, "t", ""),
    ],
    columns=["enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start",
             "promoter_end", "cell_line", "label", "source", "cv_group"],
)


def _build(path: Path, pairs=PAIRS, source=None, **kwargs):
    loaded = LoadedDataset(pairs.copy(), "hg19")
    return build_store(loaded, path, sequence=source or _genome(), progress=False, dataset="test", command="t", **{**WINDOWS, **kwargs})


@pytest.fixture
def store(tmp_path) -> Path:
    _build(tmp_path / "s.zarr")
    return tmp_path / "s.zarr"


def _chunk(store: Path, variable: str) -> Path:
    return next(p for p in sorted((store / variable).rglob("*")) if p.is_file() and "/c/" in p.as_posix())


def _one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


# ---- the manifest ------------------------------------------------------------------------------


def test_a_finished_build_lists_every_file_it_wrote_and_checks_pass(store):
    manifest = json.loads((store / MANIFEST).read_text())
    files = manifest["files"]
    assert manifest["algorithm"] == "sha256"
    for variable in ("pair_label", "enhancer_sequence", "promoter_sequence", "pair_enhancer"):
        assert any(name.startswith(f"{variable}/c/") for name in files), variable
    assert "zarr.json" in files and MANIFEST not in files
    assert all(size == (store / name).stat().st_size for name, (size, _) in files.items())
    check_store(store)
    assert verify_store(store)["files"] == len(files)


@pytest.mark.parametrize("variable", ["pair_label", "enhancer_sequence"])
def test_a_deleted_chunk_fails_to_open_naming_the_variable(store, variable):
    """Without the manifest, these read as all-zero labels and all-N sequences."""
    _chunk(store, variable).unlink()
    with pytest.raises(StoreError, match=f"is damaged in {variable}: {variable}/c/.* is missing") as error:
        open_store(store)
    _one_line(error)
    with pytest.raises(StoreError, match=f"damaged in {variable}"):
        verify_store(store)


def test_garbage_chunks_are_caught(store):
    chunk = _chunk(store, "enhancer_sequence")
    size = chunk.stat().st_size
    chunk.write_bytes(b"\x00" * size)  # same size: only the checksum tells
    open_store(store)  # the cheap check looks at sizes only
    with pytest.raises(StoreError, match="damaged in enhancer_sequence: .* does not match its checksum") as error:
        verify_store(store)
    _one_line(error)
    chunk.write_bytes(os.urandom(size + 7))  # another size: the cheap check sees it
    with pytest.raises(StoreError, match="damaged in enhancer_sequence: .* has 1?\\d+ bytes where the build wrote"):
        open_store(store)


def test_a_chunk_the_build_never_wrote_is_found_by_verify(store):
    target = store / "pair_label" / "c" / "7"
    target.write_bytes(b"junk")
    with pytest.raises(StoreError, match="pair_label/c/7 was not written by the build"):
        verify_store(store)


def test_a_missing_manifest_is_damage_but_old_stores_have_none(store):
    (store / MANIFEST).unlink()
    with pytest.raises(StoreError, match="manifest epizoo_manifest.json is missing"):
        check_store(store)
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["epizoo_format_version"] = "1.0"  # built before manifests
    (store / "zarr.json").write_text(json.dumps(meta))
    check_store(store)
    with pytest.raises(StoreError, match="cannot be verified"):
        verify_store(store)


def test_inspect_verify(store):
    result = CliRunner().invoke(cli, ["inspect", str(store), "--verify"])
    assert result.exit_code == 0, result.output
    assert "every checksum matches" in result.output
    info = json.loads(CliRunner().invoke(cli, ["inspect", str(store), "--verify", "--json"]).output)
    assert info["verified"]["files"] > 0
    chunk = _chunk(store, "pair_label")
    chunk.write_bytes(b"\xff" * chunk.stat().st_size)
    result = CliRunner().invoke(cli, ["inspect", str(store), "--verify"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "damaged in pair_label" in lines[0]


def test_bench_refuses_a_damaged_store_before_writing_anything(store, tmp_path):
    from epizoo.bench.runner import BenchConfig, bench

    _chunk(store, "enhancer_sequence").unlink()
    out = tmp_path / "run"
    with pytest.raises(StoreError, match="damaged in enhancer_sequence"):
        bench(BenchConfig(store=str(store), out=str(out), models=["distance"], progress=False))
    assert not out.exists()


def test_bench_refuses_a_garbage_chunk_of_the_right_size_before_writing_anything(store, tmp_path):
    chunk = _chunk(store, "enhancer_sequence")
    chunk.write_bytes(os.urandom(chunk.stat().st_size))  # passes the size check; would fail to decode
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["bench", str(store), "--models", "distance", "-o", str(out), "--no-progress"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "damaged in enhancer_sequence" in result.output and "checksum" in result.output
    assert not out.exists()


def test_embed_refuses_a_damaged_store_before_writing_anything(store, tmp_path):
    _chunk(store, "promoter_sequence").unlink()
    out = tmp_path / "vectors.w2v"
    result = CliRunner().invoke(cli, ["embed", str(store), "--out", str(out), "--no-progress"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "damaged in promoter_sequence" in result.output and not out.exists()


# ---- staging edges -----------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _killed_between_renames(store: Path) -> Path:
    """What a --force build killed after renaming the old store aside leaves: only ``.old-<pid>``."""
    old = store.with_name(f"{store.name}.old-{_dead_pid()}")
    store.rename(old)
    store.with_name(f"{store.name}.wip-{_dead_pid()}").mkdir()  # its finished-but-unmoved work
    return old


def test_an_interrupted_force_is_recovered_on_the_next_open(store):
    old = _killed_between_renames(store)
    ds = open_store(store)
    assert ds.sizes["pairs"] == 4 and not old.exists()


def test_an_interrupted_force_is_recovered_by_the_next_build_not_deleted(store):
    _killed_between_renames(store)
    with pytest.raises(StoreError, match="already exists; pass --force"):
        _build(store)  # the old store is back, so a build without --force must not replace it
    assert open_store(store).sizes["pairs"] == 4
    _build(store, pairs=PAIRS.iloc[:2], force=True)
    assert open_store(store).sizes["pairs"] == 2
    assert sorted(p.name for p in store.parent.iterdir() if p.name.startswith("s.zarr")) == ["s.zarr"]


def test_a_store_that_appears_during_a_build_is_never_replaced(tmp_path, monkeypatch):
    """Two builds of the same new --out: the later one fails at rename time and leaves the first."""
    out = tmp_path / "s.zarr"
    _build(tmp_path / "first.zarr", pairs=PAIRS.iloc[:2])
    real = build_module._write_tables

    def racing(wip, data, attrs):
        real(wip, data, attrs)
        shutil.copytree(tmp_path / "first.zarr", out)  # the other build finished first

    monkeypatch.setattr(build_module, "_write_tables", racing)
    with pytest.raises(StoreError, match="appeared while this build ran") as error:
        _build(out)
    _one_line(error)
    assert open_store(out).sizes["pairs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.zarr")) == ["s.zarr"]


def test_a_full_disk_is_one_line_and_leaves_nothing(store, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(build_module, "_write_sequences", full)
    with pytest.raises(StoreError, match="no space left on the device while writing") as error:
        _build(tmp_path / "new.zarr")
    _one_line(error)
    with pytest.raises(StoreError, match="no space left"):
        _build(store, force=True)
    assert sorted(p.name for p in tmp_path.iterdir() if ".zarr" in p.name) == ["s.zarr"]
    assert open_store(store).sizes["pairs"] == 4  # the old store is untouched


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(build_module.os, "access", lambda path, mode: False if Path(path) == tmp_path else real(path, mode))
    with pytest.raises(StoreError, match="is not writable; choose another --out"):
        _build(tmp_path / "s.zarr")

    def denied(*args, **kwargs):  # permissions taken away while the build runs
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "s.zarr.wip-1"))

    monkeypatch.setattr(build_module.os, "access", real)
    monkeypatch.setattr(build_module, "_write_tables", denied)
    with pytest.raises(StoreError, match="cannot write .*Permission denied"):
        _build(tmp_path / "s.zarr")
    assert not list(tmp_path.iterdir())


def test_huge_windows_are_refused_before_allocating(tmp_path, monkeypatch):
    with pytest.raises(InputFileError, match="--enhancer-window 1,000,000,000,000 bp is longer than the longest contig") as error:
        _build(tmp_path / "s.zarr", enhancer_window=10**12)
    _one_line(error)
    regions = tmp_path / "r.fa"
    regions.write_text(">chr1:1000-1004\nACGT\n>chr1:3000-3001\nA\n")
    monkeypatch.setattr(build_module, "_available_memory", lambda: 10**9)
    with pytest.raises(InputFileError, match="--promoter-window 100,000,000 bp would need about"):
        _build(tmp_path / "s.zarr", pairs=PAIRS.iloc[:1], source=RegionSequences(regions), promoter_window=10**8)
    assert not list(tmp_path.glob("s.zarr*"))


def test_cli_huge_window_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["build-store", "--dataset", "synthetic", "--out", str(tmp_path / "s.zarr"),
                                      "--enhancer-window", "1000000000000", "--no-progress", "--option", "n_pairs=200"])
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "longer than the longest contig" in result.output
    assert not list(tmp_path.glob("s.zarr*"))


# ---- Python API errors -------------------------------------------------------------------------


def test_open_store_of_none_is_an_epizoo_error():
    for bad in (None, 3, ""):
        with pytest.raises(StoreError, match="open_store needs the path of a store"):
            open_store(bad)


def test_out_of_range_accessor_index_is_an_epizoo_error(store):
    ds = open_store(store)
    n = ds.sizes["enhancers"]
    assert ds.epizoo.codes("enhancer", -1).shape == (300,)  # negative indices count from the end
    for bad in (n, [0, n + 5], -n - 1):
        with pytest.raises(EpizooError, match=f"enhancer index .* out of range: this store has {n} enhancers"):
            ds.epizoo.codes("enhancer", bad)
    with pytest.raises(IndexError):  # still an IndexError for code that catches one
        ds.epizoo.sequences("promoter", [10**6])
    with pytest.raises(EpizooError, match="whole numbers"):
        ds.epizoo.codes("enhancer", 1.5)


def test_simulate_store_still_builds(tmp_path):
    ds = epizoo.simulate_store(tmp_path / "sim.zarr", n_pairs=200, n_contigs=2)
    check_store(tmp_path / "sim.zarr")
    assert ds.sizes["pairs"] > 0


def test_pair_names_and_stores_without_them(store):
    ds = open_store(store)
    assert list(ds.epizoo.pair_names()) == [""] * 4 and list(ds.epizoo.pair_names([1])) == [""]
    older = ds.drop_vars("pair_name")  # a store built before format 1.1
    from epizoo import schema

    schema.validate(older)
    assert list(older.epizoo.pair_names([0, 3])) == ["", ""]
    with pytest.raises(StoreError, match="pair_name"):
        schema.validate(ds.assign(pair_name=("pairs", np.zeros(4, dtype=np.int64))))
