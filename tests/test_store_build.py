"""The staged store build: contents, coordinates, de-duplication, errors, --force, interruptions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from epizoo import coords
from epizoo.datasets.base import LoadedDataset
from epizoo.errors import EmptyResultError, InputFileError, SequenceError, StoreError
from epizoo.sources.genome import ArrayGenome, FastaGenome, RegionSequences
from epizoo.store import build as build_module
from epizoo.store.build import build_store, natural_contig_key
from epizoo.store.io import open_store, quiet_consolidation

WINDOWS = {"enhancer_window": 300, "promoter_window": 200, "n_shifts": 4, "shift_step": 25}  # flank 50


def _genome() -> ArrayGenome:
    rng = np.random.default_rng(3)
    return ArrayGenome({name: rng.integers(0, 4, 5000, dtype=np.int8) for name in ("chr2", "chr10", "chr1", "chrX")})


def _pairs(rows) -> pd.DataFrame:
    columns = ["enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start",
               "promoter_end", "cell_line", "label", "source", "cv_group"]
    return pd.DataFrame(rows, columns=columns)


PAIRS = _pairs(
    [
        ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t/GM", "cv-1"),
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "GM", 0, "t/GM", "cv-1"),  # same enhancer again
        ("chr10", 20, 120, "chr10", 4990, 4991, "K5", 1, "t/K5", ""),  # both windows run off the ends
        ("chr2", 2000, 2400, "chr1", 3000, 3001, "K5", 0, "t/K5", "cv-10"),  # across contigs
    ]
)


@pytest.fixture
def genome() -> ArrayGenome:
    return _genome()


@pytest.fixture
def fasta(tmp_path, genome) -> FastaGenome:
    return FastaGenome(genome.write_fasta(tmp_path / "genome.fa"))


def _build(tmp_path, source, pairs=PAIRS, name="s.zarr", **kwargs):
    loaded = LoadedDataset(pairs.copy(), "hg19", variant="v1", report={"rows": len(pairs)})
    report = build_store(loaded, tmp_path / name, sequence=source, progress=False, dataset="test", command="epizoo test", **{**WINDOWS, **kwargs})
    return report, open_store(tmp_path / name)


def test_build_from_fasta_stores_elements_once_in_natural_contig_order(tmp_path, fasta):
    report, ds = _build(tmp_path, fasta)
    assert report.pairs_read == report.pairs_kept == 4 and report.dropped == {}
    assert ds.epizoo.contigs == ["chr1", "chr2", "chr10"]
    assert ds.sizes["enhancers"] == 3 and ds.sizes["promoters"] == 3
    assert list(ds["pair_enhancer"].values) == [0, 0, 2, 1]
    assert list(ds["contig_length"].values) == [5000, 5000, 5000]
    assert list(ds["pair_cv_group"].values) == [0, 0, -1, 1]
    assert [str(v) for v in ds["cv_group_id"].values] == ["cv-1", "cv-10"]
    assert ds.sizes["enhancer_bases"] == 400 and ds.sizes["promoter_bases"] == 300
    assert (tmp_path / "genome.fa.fai").exists()


def test_pair_distance_and_contig(tmp_path, fasta):
    _, ds = _build(tmp_path, fasta)
    # centres: enhancer 1100, promoter TSS 3000 / 4000; chr10 70 vs 4990; across contigs -1
    assert list(ds["pair_distance"].values) == [1900, 2900, 4920, -1]
    assert [ds.epizoo.contigs[c] for c in ds["pair_contig"].values] == ["chr1", "chr1", "chr10", "chr2"]


def test_stored_windows_match_the_genome_with_n_off_the_ends(tmp_path, fasta, genome):
    _, ds = _build(tmp_path, fasta)
    for kind, window in (("enhancer", 300), ("promoter", 200)):
        for i in range(ds.sizes[f"{kind}s"]):
            contig = ds.epizoo.contigs[int(ds[f"{kind}_contig"][i])]
            start, end = int(ds[f"{kind}_start"][i]), int(ds[f"{kind}_end"][i])
            first = coords.stored_window_start(start, end, window, 50)
            assert int(ds[f"{kind}_window_start"][i]) == first
            stored = ds[f"{kind}_sequence"][i].values
            codes = genome.arrays[contig]
            expected = np.array([codes[p] if 0 <= p < len(codes) else 4 for p in range(first, first + window + 100)])
            assert np.array_equal(stored, expected)
    # the chr10 enhancer [20, 120) starts its stored window at 70 - 150 - 50 = -130: 130 Ns
    row = ds.epizoo.contigs.index("chr10")
    enhancer = int(np.flatnonzero(ds["enhancer_contig"].values == row)[0])
    assert (ds["enhancer_sequence"][enhancer].values[:130] == 4).all() and ds["enhancer_sequence"][enhancer].values[130] != 4


def test_shifted_views_cut_the_right_bases(tmp_path, fasta, genome):
    _, ds = _build(tmp_path, fasta)
    tss = 3000  # promoter 0: chr1 [3000, 3001)
    for shift in (-50, -25, 0, 25, 50):
        view = ds.epizoo.codes("promoter", 0, length=100, shift=shift)
        assert np.array_equal(view, genome.arrays["chr1"][tss - 50 + shift : tss + 50 + shift])
    with pytest.raises(ValueError, match="does not fit"):
        ds.epizoo.codes("promoter", 0, length=200, shift=75)


def test_root_attributes_hold_provenance(tmp_path, fasta):
    report, ds = _build(tmp_path, fasta)
    assert ds.attrs["sequence_sha256"] == fasta.sha256()
    assert ds.attrs["flank"] == 50 and ds.attrs["enhancer_window"] == 300 and ds.attrs["n_shifts"] == 4
    assert ds.attrs["genome_build"] == "hg19" and ds.attrs["variant"] == "v1" and ds.attrs["command"] == "epizoo test"
    assert json.loads(ds.attrs["build_report"])["pairs_kept"] == 4
    assert report.bytes_on_disk > 0 and report.reader == {"rows": 4}


def test_strict_sources_refuse_missing_contigs_and_off_contig_elements(tmp_path, fasta):
    renamed = PAIRS.assign(enhancer_contig=PAIRS["enhancer_contig"].str.replace("chr", ""))
    with pytest.raises(SequenceError, match="contig '1' is not in genome.fa"):
        _build(tmp_path, fasta, pairs=renamed)
    off = PAIRS.copy()
    off.loc[0, ["enhancer_start", "enhancer_end"]] = [6000, 6200]
    with pytest.raises(SequenceError, match="off the end of chr1"):
        _build(tmp_path, fasta, pairs=off)
    assert not list(tmp_path.glob("s.zarr*"))


def test_regions_drop_and_count_unavailable_pairs(tmp_path, genome):
    fa = tmp_path / "regions.fa"
    from epizoo.sequence import decode

    chr1 = genome.arrays["chr1"]
    fa.write_text(f">chr1:1000-1200\n{decode(chr1[1000:1200])}\n>chr1:3000-3001\n{decode(chr1[3000:3001])}\n")
    with pytest.raises(EmptyResultError, match=r"drops 3 of 4 pairs \(75 %, over 50 %\).*--allow-drops"):
        _build(tmp_path, RegionSequences(fa))  # refused: over half the pairs dropped
    assert not list(tmp_path.glob("s.zarr*"))
    report, ds = _build(tmp_path, RegionSequences(fa), allow_drops=True)
    assert report.pairs_kept == 1 and "drops 3 of 4 pairs" in report.warnings[0]
    assert (report.positive_rate_read, report.positive_rate_kept) == (0.5, 1.0)
    assert report.dropped == {"promoter sequence unavailable": 1, "both sequences unavailable": 1, "enhancer sequence unavailable": 1}
    assert list(ds["contig_length"].values) == [-1]
    enhancer = ds["enhancer_sequence"][0].values
    # stored window: centre 1100 - 150 - 50 = 900 .. 1300; the record covers 1000..1200
    assert (enhancer[:100] == 4).all() and np.array_equal(enhancer[100:300], chr1[1000:1200]) and (enhancer[300:] == 4).all()


def test_regions_with_no_usable_pair_is_an_empty_result(tmp_path):
    fa = tmp_path / "regions.fa"
    fa.write_text(">chr7:0-4\nACGT\n")
    with pytest.raises(EmptyResultError, match="none of the 4 pairs"):
        _build(tmp_path, RegionSequences(fa))
    assert not list(tmp_path.glob("s.zarr*"))


def test_build_needs_a_sequence_source(tmp_path):
    with pytest.raises(InputFileError, match="--genome"):
        build_store(LoadedDataset(PAIRS.copy(), "hg19"), tmp_path / "s.zarr", progress=False)


def test_existing_store_needs_force_and_force_replaces_it(tmp_path, fasta):
    _build(tmp_path, fasta)
    with pytest.raises(StoreError, match="--force"):
        _build(tmp_path, fasta)
    report, ds = _build(tmp_path, fasta, pairs=PAIRS.iloc[:2], force=True)
    assert ds.sizes["pairs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.zarr")) == ["s.zarr"]


def test_force_replaces_only_an_epizoo_store(tmp_path, fasta):
    folder = tmp_path / "s.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match=r"s\.zarr is not an epizoo store; remove it yourself or choose another --out"):
        _build(tmp_path, fasta, force=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    (folder / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    with pytest.raises(StoreError, match="is not an epizoo store"):
        _build(tmp_path, fasta, force=True)  # a Zarr group, but not one of ours
    plain_file = tmp_path / "file.zarr"
    plain_file.write_text("data")
    with pytest.raises(StoreError, match="is not an epizoo store"):
        _build(tmp_path, fasta, name="file.zarr", force=True)
    assert plain_file.read_text() == "data"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_build_removes_stale_leftovers_that_are_not_stores(tmp_path, fasta):
    """A leftover ``<out>.old-<pid>`` that is no complete store is deleted by the next build."""
    stale = tmp_path / f"s.zarr.old-{_dead_pid()}"
    stale.mkdir()
    (stale / "zarr.json").write_text("{}")
    ours = tmp_path / f"s.zarr.old-{os.getpid()}-x"  # not a name a build gives: left alone
    ours.mkdir()
    user = tmp_path / "s.zarr.old-backup"
    user.mkdir()
    _build(tmp_path, fasta)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.zarr")) == sorted(["s.zarr", ours.name, user.name])


def test_api_builds_record_where_they_came_from(tmp_path, fasta):
    loaded = LoadedDataset(PAIRS.copy(), "hg19")
    build_store(loaded, tmp_path / "api.zarr", sequence=fasta, progress=False, dataset="test", **WINDOWS)
    command = open_store(tmp_path / "api.zarr").attrs["command"]
    assert command.startswith("python: epizoo.store.build.build_store(") and "dataset='test'" in command
    assert "enhancer_window=300" in command


def test_failure_inside_the_writer_leaves_no_store_and_keeps_the_old_one(tmp_path, fasta, monkeypatch):
    _build(tmp_path, fasta)

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_write_sequences", broken)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, fasta, force=True, pairs=PAIRS.iloc[:1])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.zarr")) == ["s.zarr"]
    assert open_store(tmp_path / "s.zarr").sizes["pairs"] == 4


KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd
    from epizoo.datasets.base import LoadedDataset
    from epizoo.sources.genome import ArrayGenome
    from epizoo.store import build

    real = build._write_sequences
    def slow(*args, **kwargs):
        real(*args, **kwargs)
        print("writing", flush=True)
        time.sleep(60)
    build._write_sequences = slow
    genome = ArrayGenome({"chr1": np.zeros(5000, dtype=np.int8)})
    pairs = pd.DataFrame({"enhancer_contig": ["chr1"], "enhancer_start": [100], "enhancer_end": [200],
        "promoter_contig": ["chr1"], "promoter_start": [3000], "promoter_end": [3001], "cell_line": ["c"],
        "label": [1], "source": ["s"], "cv_group": [""]})
    build.build_store(LoadedDataset(pairs, "hg19"), sys.argv[1], sequence=genome, progress=False)
    """
)


def test_a_killed_build_leaves_only_a_wip_dir_that_never_opens(tmp_path, fasta):
    out = tmp_path / "s.zarr"
    child = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(out)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    left = [p for p in tmp_path.iterdir() if p.name.startswith("s.zarr")]
    assert len(left) == 1 and ".wip-" in left[0].name
    with pytest.raises(StoreError, match="unfinished or interrupted build"):
        open_store(left[0])
    with pytest.raises(StoreError, match="does not exist"):
        open_store(out)
    _build(tmp_path, fasta)  # the next build cleans the stale wip dir
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("s.zarr")] == ["s.zarr"]


def test_a_store_missing_a_variable_fails_to_open_with_one_line(tmp_path, fasta):
    import shutil

    import zarr

    _build(tmp_path, fasta)
    shutil.rmtree(tmp_path / "s.zarr" / "pair_label")
    with quiet_consolidation():
        zarr.consolidate_metadata(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="is damaged in pair_label") as error:
        open_store(tmp_path / "s.zarr")  # the manifest check comes first
    assert "\n" not in str(error.value)
    with pytest.raises(StoreError, match="variable 'pair_label' is missing") as error:
        open_store(tmp_path / "s.zarr", check=False)
    assert "\n" not in str(error.value)


def test_a_folder_that_is_not_a_store(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr store"):
        open_store(tmp_path / "plain")


def test_natural_contig_order():
    names = ["chrM", "chr10", "chrUn_x", "chr2", "chrY", "chrX", "chr1", "3"]
    assert sorted(names, key=natural_contig_key) == ["chr1", "chr2", "3", "chr10", "chrX", "chrY", "chrM", "chrUn_x"]


def test_sequence_blocks_span_chunks(tmp_path, monkeypatch):
    """Builds larger than one sequence chunk write every block (chunk size shrunk for the test)."""
    monkeypatch.setattr(build_module, "ELEMENT_CHUNK", 2)
    genome = _genome()
    _, ds = _build(tmp_path, genome)
    for i in range(3):
        first = int(ds["enhancer_window_start"][i])
        contig = ds.epizoo.contigs[int(ds["enhancer_contig"][i])]
        assert np.array_equal(ds["enhancer_sequence"][i].values, genome.fetch(contig, first, first + 400))
    assert ds["enhancer_sequence"].encoding["chunks"] == (2, 400)


def test_duplicates_collapse_and_contradictions_resolve_to_positive(tmp_path, fasta):
    rows = [
        ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t/GM", ""),
        ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t/GM", ""),  # exact duplicate
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "GM", 0, "t/GM", ""),
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "GM", 1, "t/GM", ""),  # contradicts the row above
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "GM", 0, "t/GM", ""),  # and again
        ("chr1", 1000, 1200, "chr1", 4000, 4001, "K5", 0, "t/K5", ""),  # another cell line: its own pair
        ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 0, "u/GM", ""),  # another source table: its own pair
    ]
    report, ds = _build(tmp_path, fasta, pairs=_pairs(rows))
    assert report.pairs_read == 7 and report.pairs_kept == 4
    assert report.dropped == {"duplicate pair": 1, "contradictory label (kept as positive)": 2}
    assert list(ds["pair_label"].values) == [1, 1, 0, 0]
    assert list(ds["pair_promoter"].values) == [0, 1, 1, 0]
    assert json.loads(ds.attrs["build_report"])["dropped"]["duplicate pair"] == 1


def test_store_io_does_not_import_the_builder():
    """Reading a store never needs the builder: build imports io, never the other way (no cycle)."""
    import ast
    from pathlib import Path

    import epizoo.store.io as io

    tree = ast.parse(Path(io.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("epizoo.store.build")}
    import epizoo

    assert epizoo.simulate_store.__module__ == "epizoo.store.simulate"


def test_distortion_thresholds():
    from epizoo.store.build import distortion

    assert distortion((100, 10), (60, 6), {}) is None  # 40 % dropped, same rate
    assert "drops 51 of 100" in distortion((100, 10), (49, 5), {"duplicate pair": 51})
    assert "from 10.0 % to 21.0 %" in distortion((100, 10), (100, 21), {})  # 2.1-fold
    assert "from 40.0 % to 51.0 %" in distortion((100, 40), (100, 51), {})  # 11 points
    assert distortion((100, 40), (100, 49), {}) is None  # 9 points, 1.2-fold
    # TargetFinder NHEK from the shared pre-extracted sequences (issue 17): 287 of 26,891 kept, 4.8 % -> 92.7 %
    line = distortion((26891, 1291), (287, 266), {"enhancer sequence unavailable": 26604})
    assert "drops 26,604 of 26,891" in line and "to 92.7 %" in line and "26,604 enhancer sequence unavailable" in line


def test_generated_negatives_do_not_count_as_a_change_of_rate(tmp_path, fasta):
    """--negatives K is asked for: the rate check looks at the observed pairs only."""
    pairs = PAIRS.assign(label_generated=[False, False, False, True], label=[1, 0, 1, 0])
    report, _ = _build(tmp_path, fasta, pairs=pairs)
    assert report.positive_rate_read == report.positive_rate_kept == pytest.approx(2 / 3) and report.warnings == []
