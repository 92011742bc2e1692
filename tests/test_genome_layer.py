"""The genome layer: readers against the bigWig and cooler files written here, band storage, the
synthetic rule, the accessor, build-store with and without pairs, inspect, and each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from epizoo.cli import cli
from epizoo.datasets.base import DatasetRequest
from epizoo.errors import EpizooError, InputFileError
from epizoo.sources.genome import ArrayGenome
from epizoo.sources.layer_files import band_of, open_cooler
from epizoo.store.genome_layer import LayerRequest, LayerSettings, build_genome_store
from epizoo.store.io import open_store
from epizoo.sources.tracks import read_tracks_yaml

LENGTHS = {"chr1": 203_000, "chr2": 151_500}
GAP = (50_000, 60_000)  # unmeasured in every track: NaN
FINE, BIN, MAX_DISTANCE = 1_000, 5_000, 40_000


def _write_bigwig(path: Path, values: dict[str, np.ndarray], names: dict[str, str] | None = None) -> Path:
    import pyBigWig

    names = names or {c: c for c in values}
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([(names[c], len(v)) for c, v in values.items()])
    for contig, v in values.items():
        for lo, hi in ((0, GAP[0]), (GAP[1], len(v))):
            bw.addEntries(names[contig], lo, values=v[lo:hi].astype(np.float64), span=1, step=1)
    bw.close()
    return path


def _track(rng) -> dict[str, np.ndarray]:
    """Smooth-ish positive values: a random walk of steps every 7 bp, so bins of 10 bp differ from bases."""
    out = {}
    for contig, n in LENGTHS.items():
        steps = np.repeat(rng.gamma(2.0, 1.0, -(-n // 7)), 7)[:n].astype(np.float32)
        steps[GAP[0] : GAP[1]] = np.nan
        out[contig] = steps
    return out


def _bins(resolution: int, rng, masked: bool = True) -> pd.DataFrame:
    frames = []
    for contig, n in LENGTHS.items():
        starts = np.arange(0, n, resolution)
        frames.append(pd.DataFrame({"chrom": contig, "start": starts, "end": np.minimum(starts + resolution, n)}))
    bins = pd.concat(frames, ignore_index=True)
    weight = rng.uniform(0.5, 1.5, len(bins))
    if masked:
        weight[rng.choice(len(bins), 3, replace=False)] = np.nan
    return bins.assign(weight=weight)


def _pixels(bins: pd.DataFrame, rng, reach: int) -> pd.DataFrame:
    """Upper-triangle counts within ``reach`` bins, decaying with distance, some left out (0)."""
    rows = []
    for _, group in bins.groupby("chrom", sort=False):
        index = group.index.to_numpy()
        for d in range(reach):
            i, j = index[: len(index) - d], index[d:]
            counts = rng.poisson(200.0 / (d + 1), len(i))
            keep = counts > 0
            rows.append(pd.DataFrame({"bin1_id": i[keep], "bin2_id": j[keep], "count": counts[keep]}))
    return pd.concat(rows).sort_values(["bin1_id", "bin2_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    import cooler

    root = tmp_path_factory.mktemp("genome_layer")
    rng = np.random.default_rng(0)
    genome = ArrayGenome({c: rng.integers(0, 4, n).astype(np.int8) for c, n in LENGTHS.items()}, name="test")
    fasta = genome.write_fasta(root / "genome.fa")
    values = {"ctcf": _track(rng), "atac": _track(rng)}
    _write_bigwig(root / "ctcf.bw", values["ctcf"])
    _write_bigwig(root / "atac.bw", values["atac"])
    (root / "tracks.yaml").write_text("GM:\n  CTCF: ctcf.bw\n  ATAC: atac.bw\n")
    fine = _bins(FINE, rng)
    cooler.create_cooler(str(root / "fine.cool"), fine, _pixels(fine, rng, 60))
    for resolution in (BIN, 10_000):
        bins = _bins(resolution, rng)
        mode = "w" if resolution == BIN else "a"
        cooler.create_cooler(f"{root / 'maps.mcool'}::/resolutions/{resolution}", bins, _pixels(bins, rng, 12), mode=mode)
    (root / "contacts.yaml").write_text("GM: maps.mcool::/resolutions/5000\nK5: fine.cool\n")
    return {"root": root, "fasta": fasta, "genome": genome, "values": values}


def _build(files, out, tracks="tracks.yaml", contacts="contacts.yaml", **settings):
    settings = {"bin_size": BIN, "max_distance": MAX_DISTANCE, "track_resolution": 10, **settings}
    root = files["root"]
    request = LayerRequest.from_options(
        str(files["fasta"]), tracks=tracks and root / tracks, contacts=contacts and root / contacts, **settings
    )
    build_genome_store(request, out, progress=False, force=True)
    return open_store(out)


@pytest.fixture(scope="module")
def store(files, tmp_path_factory):
    return _build(files, tmp_path_factory.mktemp("stores") / "genome.zarr")


# ---- readers ----------------------------------------------------------------------------------------


def test_tracks_yaml_resolves_paths_and_refuses_bad_entries(files, tmp_path):
    tracks = read_tracks_yaml(files["root"] / "tracks.yaml")
    assert tracks == {"GM": {"CTCF": files["root"] / "ctcf.bw", "ATAC": files["root"] / "atac.bw"}}
    bad = tmp_path / "t.yaml"
    for text, message in [("GM:\n  CTCF: absent.bw\n", "does not exist"), ("- a\n- b\n", "expected a mapping"),
                          ("GM: ctcf.bw\n", "must map mark names"), ("GM: [\n", "not valid YAML")]:
        bad.write_text(text)
        with pytest.raises(InputFileError, match=message):
            read_tracks_yaml(bad)


def test_sequence_matches_the_fasta_with_n_beyond_the_contig(store, files):
    codes = files["genome"].arrays["chr2"]
    assert np.array_equal(store.epizoo.sequence("chr2", 1000, 5000), codes[1000:5000])
    edge = store.epizoo.sequence("chr2", LENGTHS["chr2"] - 3, LENGTHS["chr2"] + 2)
    assert edge.tolist() == [*codes[-3:].tolist(), 4, 4]
    assert store.epizoo.sequence("2", -2, 1).tolist() == [4, 4, codes[0]]  # either naming style


def test_tracks_at_one_bp_equal_the_bigwig_and_bins_are_means(files, tmp_path):
    exact = _build(files, tmp_path / "bp.zarr", contacts=None, track_resolution=1)
    written = files["values"]["ctcf"]["chr1"]
    got = exact.epizoo.track("GM", "CTCF", "chr1", 40_000, 70_000)
    assert np.array_equal(got, written[40_000:70_000].astype(np.float16).astype(np.float32), equal_nan=True)
    assert np.isnan(got[GAP[0] - 40_000 : GAP[1] - 40_000]).all()
    binned = _build(files, tmp_path / "bin.zarr", contacts=None, track_resolution=10)
    got = binned.epizoo.track("GM", "ATAC", "chr2", 1003, 2007)
    means = files["values"]["atac"]["chr2"][1000:2010].reshape(-1, 10).mean(axis=1)
    assert np.allclose(got, np.repeat(means, 10)[3:1007], rtol=1e-3)
    tail = binned.epizoo.track("GM", "ATAC", "chr2", LENGTHS["chr2"] - 5, LENGTHS["chr2"] + 5)
    assert np.isfinite(tail[:5]).all() and np.isnan(tail[5:]).all()


@pytest.mark.parametrize("balance", [True, False])
def test_contacts_equal_the_cooler_fetch_balanced_and_raw(files, tmp_path, balance):
    import cooler

    ds = _build(files, tmp_path / "maps.zarr", tracks=None, balance=balance)
    clr = cooler.Cooler(f"{files['root'] / 'maps.mcool'}::/resolutions/{BIN}")
    expected = clr.matrix(balance=balance).fetch("chr1:20000-60000")
    got = ds.epizoo.contacts("GM", "chr1", 20_000, 60_000)
    assert got.shape == (8, 8) and np.allclose(got, expected, equal_nan=True)
    assert ds["contact_value"].attrs["matrix"] == ("balanced" if balance else "raw")


def test_band_holds_the_dense_map_within_max_distance(files, store):
    import cooler

    clr = cooler.Cooler(f"{files['root'] / 'maps.mcool'}::/resolutions/{BIN}")
    dense = clr.matrix(balance=True).fetch("chr2:0-100000")  # 20 bins, band 9 diagonals
    got = store.epizoo.contacts("GM", "chr2", 0, 100_000)
    distance = np.abs(np.subtract.outer(np.arange(20), np.arange(20)))
    inside = distance <= MAX_DISTANCE // BIN
    assert np.allclose(got[inside], dense[inside], equal_nan=True)
    assert np.isnan(got[~inside]).all() and np.allclose(got, got.T, equal_nan=True)
    assert band_of(dense[:3], 2).tolist()[0][:2] == pytest.approx(dense[0, :2].tolist(), nan_ok=True)


def test_a_finer_cooler_is_summed_into_the_bins(files, store):
    import cooler

    fine = cooler.Cooler(str(files["root"] / "fine.cool")).matrix(balance=True).fetch("chr1:100000-130000")
    blocks = fine.reshape(6, 5, 6, 5)
    measured = (~np.isnan(blocks)).any(axis=(1, 3))
    expected = np.where(measured, np.nansum(blocks, axis=(1, 3)), np.nan)
    assert np.allclose(store.epizoo.contacts("K5", "chr1", 100_000, 130_000), expected, rtol=1e-5, equal_nan=True)


def test_accessor_lookups_and_windows_off_the_contig(store):
    e = store.epizoo
    assert e.genome_contigs() == LENGTHS
    assert e.track_names() == [("GM", "CTCF"), ("GM", "ATAC")]
    assert e.contact_cell_lines() == ["GM", "K5"] and e.contact_bin_size == BIN
    edge = e.contacts("GM", "chr2", LENGTHS["chr2"] - 10_000, LENGTHS["chr2"] + 10_000)
    assert edge.shape == (5, 5)  # bins 28..32 of a 31-bin contig: the last two lie off it
    assert np.isnan(edge[:, -2:]).all() and np.isnan(edge[-2:]).all() and np.isfinite(edge[0, 1])
    assert e.track("GM", "CTCF", "chr1", -10, 0).shape == (10,)
    with pytest.raises(EpizooError, match="no track GM/H3K27ac"):
        e.track("GM", "H3K27ac", "chr1", 0, 10)
    with pytest.raises(EpizooError, match="no contact map"):
        e.contacts("HeLa", "chr1", 0, 10)


# ---- synthetic --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    from epizoo.datasets.synthetic import simulate

    return simulate(DatasetRequest(seed=1, options={"n_pairs": 600, "n_contigs": 1, "genome": "true"}))


def _observed_over_expected(band: np.ndarray) -> np.ndarray:
    return band / np.nanmean(band, axis=0, keepdims=True)


def test_synthetic_maps_decay_with_distance_and_loop_at_convergent_sites(synthetic):
    layer, settings = synthetic.genome_layer, LayerSettings()
    band = layer.contact_band("SYN-A", "chr1", 0, 50, settings)
    assert np.nanmean(band[:, 1]) > 5 * np.nanmean(band[:, 20]) > 5 * np.nanmean(band[:, 150])
    size, n_bins = settings.bin_size, -(-layer.contigs["chr1"] // settings.bin_size)
    ratio = _observed_over_expected(layer.contact_band("SYN-A", "chr1", 0, n_bins, settings))
    sites = layer.sites[layer.sites["bound_SYN-A"]]
    forward, reverse = (sites.loc[sites["strand"] == s, "position"].to_numpy() // size for s in "+-")
    loops = [(f, r - f) for f in forward for r in reverse if 2 <= r - f <= 30]
    rng = np.random.default_rng(0)
    random = [(int(rng.integers(0, n_bins - d)), d) for _, d in loops]
    at_loops = np.nanmean([ratio[i, d] for i, d in loops])
    at_random = np.nanmean([ratio[i, d] for i, d in random])
    assert len(loops) >= 5 and at_loops > 1.5 * at_random


def test_synthetic_tracks_mark_bound_sites_and_cell_specific_loops(synthetic):
    layer, settings = synthetic.genome_layer, LayerSettings()
    sites = layer.sites
    only_a = sites[sites["bound_SYN-A"] & ~sites["bound_SYN-B"]].iloc[0]
    p = int(only_a["position"])
    assert layer.track_values("SYN-A", "CTCF", "chr1", p - 5, p + 5).mean() > 10
    assert layer.track_values("SYN-B", "CTCF", "chr1", p - 5, p + 5).mean() < 5
    motif = layer.sequence.fetch("chr1", p - 9, p + 10)
    assert "".join("ACGTN"[c] for c in motif) in ("TGGCCACCAGGGGGCGCTA", "TAGCGCCCCCTGGTGGCCA")
    a = layer.expected_band("SYN-A", "chr1", BIN, settings.diagonals)
    b = layer.expected_band("SYN-B", "chr1", BIN, settings.diagonals)
    differs = np.argwhere(~np.isclose(a, b))
    assert len(differs)  # cell-specific sites make cell-specific loops


def test_synthetic_boundaries_insulate_and_the_options_are_checked():
    """boundary=F multiplies the expected contact of two bins by F per bound site between them; the
    site spacing and the depth are options too, and a bad value is one clear error."""
    from epizoo.datasets.base import DatasetRequest
    from epizoo.datasets.synthetic import SyntheticOptionError, simulate

    def layer(**options):
        request = DatasetRequest(seed=1, options={"n_pairs": 60, "n_contigs": 1, "genome": "true", **options})
        return simulate(request).genome_layer

    plain, dense = layer(), layer(site_spacing=12000, contact_depth=800, boundary=0.5)
    assert len(dense.sites) > 2 * len(plain.sites)
    bin_size, diagonals = 2000, 16
    flat = layer(site_spacing=12000).expected_band("SYN-A", "chr1", bin_size, diagonals)
    walled = dense.expected_band("SYN-A", "chr1", bin_size, diagonals)
    bound = dense.sites[dense.sites["bound_SYN-A"]]["position"].to_numpy() // bin_size
    crossed = np.array([[np.count_nonzero((bound >= i) & (bound < i + d)) for d in range(diagonals)] for i in range(200)])
    assert np.allclose(walled[:200], 2 * flat[:200] * 0.5 ** crossed)  # depth 800 = twice 400
    for bad in ({"boundary": 0}, {"boundary": 1.5}, {"site_spacing": 10}):
        with pytest.raises(SyntheticOptionError):
            layer(**bad)


def test_synthetic_pairs_are_unchanged_by_the_genome_option():
    from epizoo.datasets.synthetic import simulate

    plain = simulate(DatasetRequest(seed=2, options={"n_pairs": 300, "n_contigs": 1}))
    with_layer = simulate(DatasetRequest(seed=2, options={"n_pairs": 300, "n_contigs": 1, "genome": "yes"}))
    pd.testing.assert_frame_equal(plain.pairs, with_layer.pairs)
    assert not hasattr(plain, "genome_layer")


# ---- CLI --------------------------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(cli, [*args, "--no-progress"] if args[0] == "build-store" else list(args))


def test_cli_builds_a_genome_only_store_and_inspects_it(files, tmp_path):
    root, out = files["root"], tmp_path / "g.zarr"
    result = _cli("build-store", "--genome", str(files["fasta"]), "--tracks", str(root / "tracks.yaml"),
                  "--contacts", str(root / "contacts.yaml"), "--bin-size", str(BIN), "--max-distance", str(MAX_DISTANCE),
                  "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["contact_maps"] == 2
    ds = open_store(out)
    assert ds.attrs["epizoo_layers"] == "genome" and "pair_label" not in ds
    info = json.loads(_cli("inspect", str(out), "--json").output)["genome"]
    assert info["tracks"] == ["GM/CTCF", "GM/ATAC"] and info["contigs"] == LENGTHS and info["contact_bin_size"] == BIN
    text = _cli("inspect", str(out)).output
    assert "genome layer" in text and "GM/CTCF" in text


@pytest.mark.slow
def test_cli_builds_pairs_with_the_synthetic_genome_layer(tmp_path):
    out = tmp_path / "syn.zarr"
    result = _cli("build-store", "--dataset", "synthetic", "--option", "genome=true", "--option", "n_pairs=300",
                  "--option", "n_contigs=1", "--max-distance", "500000", "--out", str(out))
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    assert ds.attrs["epizoo_layers"] == "pairs,sequence,genome" and ds.sizes["pairs"] > 250
    e = ds.epizoo
    window = e.contacts("SYN-B", "chr1", 0, 600_000)
    assert window.shape == (60, 60) and np.isnan(window[0, 55]) and np.isfinite(window[0, 50])
    enhancer = int(ds["enhancer_window_start"].values[0])  # the pairs are cut from the layer's genome
    assert np.array_equal(e.sequence("chr1", enhancer, enhancer + 100), ds["enhancer_sequence"].values[0, :100])
    assert "genome layer" in _cli("inspect", str(out)).output


def test_cli_adds_file_tracks_to_a_pair_store(files, tmp_path):
    root, out = files["root"], tmp_path / "pairs.zarr"
    (tmp_path / "p.bedpe").write_text("chr1\t10000\t11000\tchr1\t30000\t31000\tp1\t.\t.\t.\t1\tGM\n"
                                      "chr2\t10000\t11000\tchr2\t70000\t71000\tp2\t.\t.\t.\t0\tGM\n")
    result = _cli("build-store", "--dataset", "bedpe", "--bedpe", str(tmp_path / "p.bedpe"), "--genome", str(files["fasta"]),
                  "--tracks", str(root / "tracks.yaml"), "--enhancer-window", "300", "--promoter-window", "200",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    assert ds.sizes["pairs"] == 2 and ds.epizoo.track_names() == [("GM", "CTCF"), ("GM", "ATAC")]
    assert ds.epizoo.contact_cell_lines() == []


def test_workers_build_the_same_layer_in_processes(files, tmp_path):
    """--workers N writes each (array, contig) as a dask task in a process: the arrays equal a serial build's."""
    import zarr

    root = files["root"]
    built = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.zarr"
        result = _cli("build-store", "--genome", str(files["fasta"]), "--tracks", str(root / "tracks.yaml"),
                      "--contacts", str(root / "contacts.yaml"), "--bin-size", str(BIN), "--max-distance", str(MAX_DISTANCE),
                      "--workers", str(workers), "--out", str(out))
        assert result.exit_code == 0, result.output
        built[workers] = zarr.open_group(out, mode="r")
    for name in ("genome_sequence", "track_value", "contact_value"):
        assert np.array_equal(built[1][name][...], built[2][name][...], equal_nan=True), name


def test_workers_report_a_bad_track_in_one_line(files, tmp_path):
    """An error inside a worker process (a value beyond float16) is still one line, and no store is left."""
    loud = {c: np.full(n, 1e6, dtype=np.float32) for c, n in LENGTHS.items()}
    assert "beyond the 65,504" in _bad(files, tmp_path, _one_track(loud), "--workers", "2")


# ---- bad input: one line each, nothing left behind ----------------------------------------------------


def _bad(files, tmp_path, setup, *options):
    root = files["root"]
    bad = tmp_path / "bad"
    bad.mkdir()
    tracks, contacts = setup(root, bad)
    out = bad / "out.zarr"
    args = ["build-store", "--genome", str(files["fasta"]), "--bin-size", str(BIN), "--max-distance", str(MAX_DISTANCE),
            "--out", str(out), *options]
    args += ["--tracks", str(tracks)] if tracks else []
    args += ["--contacts", str(contacts)] if contacts else []
    result = _cli(*args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert not any(p.name.startswith("out.zarr") for p in bad.iterdir())
    return lines[0]


def _one_track(values, names=None):
    def setup(root, bad):
        _write_bigwig(bad / "t.bw", values, names)
        (bad / "t.yaml").write_text("GM:\n  CTCF: t.bw\n")
        return bad / "t.yaml", None

    return setup


def _one_map(uri):
    def setup(root, bad):
        (bad / "c.yaml").write_text(f"GM: {root / uri}\n")
        return None, bad / "c.yaml"

    return setup


def test_bad_input_a_contig_missing_from_a_track(files, tmp_path):
    line = _bad(files, tmp_path, _one_track({"chr1": files["values"]["ctcf"]["chr1"]}))
    assert "track GM/CTCF" in line and "chr2" in line


def test_bad_input_a_track_named_the_other_way(files, tmp_path):
    line = _bad(files, tmp_path, _one_track(files["values"]["ctcf"], names={"chr1": "1", "chr2": "2"}))
    assert "names its contigs differently" in line and "'1'" in line and "'chr1'" in line and "rename" in line


def test_bad_input_a_nan_only_track(files, tmp_path):
    empty = {c: np.full(n, np.nan, dtype=np.float32) for c, n in LENGTHS.items()}

    def setup(root, bad):
        import pyBigWig

        bw = pyBigWig.open(str(bad / "t.bw"), "w")
        bw.addHeader(list(LENGTHS.items()))
        bw.close()
        (bad / "t.yaml").write_text("GM:\n  CTCF: t.bw\n")
        return bad / "t.yaml", None

    assert empty  # every base unmeasured
    assert "every base is NaN" in _bad(files, tmp_path, setup)


def test_bad_input_a_track_beyond_float16(files, tmp_path):
    loud = {c: v * 1e5 for c, v in files["values"]["ctcf"].items()}
    assert "beyond the 65,504 the store's float16 holds" in _bad(files, tmp_path, _one_track(loud))


def test_bad_input_an_unbalanced_cooler_without_no_balance(files, tmp_path):
    import cooler

    def setup(root, bad):
        rng = np.random.default_rng(4)
        bins = _bins(BIN, rng).drop(columns="weight")
        cooler.create_cooler(str(bad / "raw.cool"), bins, _pixels(bins, rng, 3))
        (bad / "c.yaml").write_text("GM: raw.cool\n")
        return None, bad / "c.yaml"

    line = _bad(files, tmp_path, setup)
    assert "is not balanced" in line and "--no-balance" in line


def test_bad_input_a_bin_size_the_cooler_cannot_serve(files, tmp_path):
    line = _bad(files, tmp_path, _one_map("maps.mcool::/resolutions/10000"))
    assert "--bin-size 5,000 is not a multiple" in line and "10,000" in line


def test_bad_input_a_resolution_absent_from_the_mcool(files, tmp_path):
    line = _bad(files, tmp_path, _one_map("maps.mcool::/resolutions/2000"))
    assert "no /resolutions/2000" in line and "5,000, 10,000" in line


def test_bad_input_max_distance_not_a_multiple_of_the_bin(files, tmp_path):
    line = _bad(files, tmp_path, _one_map("maps.mcool"), "--max-distance", "42000")
    assert "--max-distance 42,000 is not a multiple of --bin-size 5,000" in line


def test_bad_input_a_contig_missing_from_a_map(files, tmp_path):
    import cooler

    def setup(root, bad):
        rng = np.random.default_rng(3)
        bins = _bins(BIN, rng, masked=False)
        bins = bins[bins["chrom"] == "chr1"].reset_index(drop=True)
        cooler.create_cooler(str(bad / "one.cool"), bins, _pixels(bins, rng, 3))
        (bad / "c.yaml").write_text("GM: one.cool\n")
        return None, bad / "c.yaml"

    line = _bad(files, tmp_path, setup, "--no-balance")
    assert "contact map GM" in line and "chr2" in line


def test_open_cooler_picks_the_resolution_of_the_bin(files):
    assert open_cooler(str(files["root"] / "maps.mcool"), 10_000).binsize == 10_000
    with pytest.raises(InputFileError, match="its resolutions: 5,000, 10,000"):
        open_cooler(str(files["root"] / "maps.mcool"), 25_000)
