"""Stand-alone checkpoints, ``epizoo.load_model`` and ``epizoo predict``: the round trip to the bench's
scores, and one clear line for each bad input."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EpizooError, UnknownNameError
from epizoo.checkpoint import load_checkpoint_model
from epizoo.inference import predict_pairs
from epizoo.checkpoint import CHECKPOINT_FORMAT, write_checkpoint_manifest

# The distribution that registers the published models: epizoo itself, which ships the zoo (an
# environment installed before that, with a separate epizoo-zoo, records that one).
ZOO_DISTRIBUTION = next(ep.dist.name for ep in entry_points(group="epizoo") if ep.module.startswith("epizoo_zoo."))

FAST = ["--tiny", "--epochs", "1", "--batch-size", "16", "--max-pairs", "16", "--no-progress", "--threads", "1"]
# one k-mer model with dna2vec vectors, one one-hot model, and a scikit-learn one
MODELS = ("epivan", "simcnn", "distance")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("predict") / "tiny.zarr"
    epizoo.simulate_store(path, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=2)
    return str(path)


@pytest.fixture(scope="module")
def run(store, tmp_path_factory, shared_data) -> Path:
    out = tmp_path_factory.mktemp("predict-run") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalog's pre-filled cache of dna2vec vectors
        result = invoke("bench", store, "--models", ",".join(MODELS), "--folds", "chr1,chr2", "-o", str(out), *FAST)
    assert result.exit_code == 0, result.output
    return out


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def checkpoint(run: Path, model: str, fold: str = "chr1") -> Path:
    return run / "checkpoints" / model / "SYN-A" / fold


def bench_table(run: Path, model: str, fold: str = "chr1") -> pd.DataFrame:
    return pd.read_csv(run / "predictions" / model / "SYN-A" / f"{fold}.tsv", sep="\t", comment="#")


def test_checkpoint_records_what_rebuilds_its_model(run):
    described = json.loads((checkpoint(run, "epivan") / "checkpoint.json").read_text())
    assert described["format"] == CHECKPOINT_FORMAT and described["epizoo_version"] == epizoo.__version__
    assert described["model"] == "epivan" and described["kind"] == "torch" and described["input_encoding"] == "kmer6"
    assert described["plugin"]["distribution"] == ZOO_DISTRIBUTION and described["plugin"]["version"]
    # the factory's own defaults are recorded, not only the spec's overrides (EPIVAN's default_hparams is {})
    hparams = described["hparams"]
    assert {"filters", "kernel", "pool", "gru_units", "attention_dim", "dropout"} <= set(hparams)
    assert (described["enhancer_length"], described["promoter_length"]) == (hparams["enhancer_length"], hparams["promoter_length"]) == (600, 400)
    assert described["hparams_not_recorded"] == ["pretrained_embedding"] and described["embedding_source"] == "dna2vec"
    assert described["split"]["name"] == "loco" and described["fold"]["name"] == "chr1"
    assert described["store"]["dataset"] == "synthetic"
    sklearn = json.loads((checkpoint(run, "distance") / "checkpoint.json").read_text())
    assert sklearn["kind"] == "sklearn" and sklearn["hparams"]["C"] == 1.0


@pytest.mark.parametrize("model", MODELS)
def test_load_model_gives_the_bench_scores(run, store, model):
    loaded, spec = epizoo.load_model(checkpoint(run, model))
    assert spec.name == model
    if spec.kind == "torch":
        assert isinstance(loaded, torch.nn.Module) and not loaded.training
    else:
        assert hasattr(loaded, "predict_proba")
    expected = bench_table(run, model)
    _, described = loaded, json.loads((checkpoint(run, model) / "checkpoint.json").read_text())
    pairs, labels, scores = predict_pairs(loaded, spec, described, store, expected["pair"].to_numpy(), device="cpu")
    np.testing.assert_array_equal(pairs, expected["pair"])
    np.testing.assert_array_equal(labels.astype(int), expected["label"])
    np.testing.assert_allclose(scores, expected["score"], atol=2e-6)


def test_load_model_keeps_the_trained_embedding_source(run):
    module, _spec = epizoo.load_model(checkpoint(run, "epivan") / "checkpoint.json")  # the JSON file names its folder too
    assert module.embedding_source == "dna2vec"


@pytest.mark.parametrize("model", MODELS)
def test_predict_round_trip_from_run_and_fold(run, store, tmp_path, model):
    out = tmp_path / "scores.tsv"
    result = invoke("predict", store, "--run", str(run), "--model", model, "--fold", "2", "--pairs", "test", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# epizoo") and "# command: epizoo predict" in out.read_text()
    ours, expected = pd.read_csv(out, sep="\t", comment="#"), bench_table(run, model, "chr2")
    assert list(ours.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(ours.drop(columns="score"), expected.drop(columns="score"))
    np.testing.assert_allclose(ours["score"], expected["score"], atol=2e-6)


def test_predict_every_pair_with_a_checkpoint(run, store, tmp_path):
    out = tmp_path / "deep" / "all.tsv"
    result = invoke("predict", store, "--checkpoint", str(checkpoint(run, "simcnn")), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t", comment="#")
    assert len(table) == epizoo.open_store(store).sizes["pairs"] and table["score"].between(0, 1).all()
    on_chr1 = table.set_index("pair").loc[bench_table(run, "simcnn")["pair"], "score"].to_numpy()
    np.testing.assert_allclose(on_chr1, bench_table(run, "simcnn")["score"], atol=2e-6)


def test_a_checkpoint_alone_knows_its_test_side(run, store, tmp_path):
    """--checkpoint with --pairs test reads the fold's sides recorded in the checkpoint folder: the
    bench's test pairs and scores, with no run directory at all."""
    folder = tmp_path / "moved"
    shutil.copytree(checkpoint(run, "simcnn", "chr2"), folder)
    out = tmp_path / "test.tsv"
    result = invoke("predict", store, "--checkpoint", str(folder), "--pairs", "test", "-o", str(out))
    assert result.exit_code == 0, result.output
    ours, expected = pd.read_csv(out, sep="\t", comment="#"), bench_table(run, "simcnn", "chr2")
    np.testing.assert_array_equal(ours["pair"], expected["pair"])
    np.testing.assert_allclose(ours["score"], expected["score"], atol=2e-6)
    (folder / "sides.npz").unlink()  # as an older epizoo wrote it: refused, never planned again
    write_checkpoint_manifest(folder)
    one_line_failure(invoke("predict", store, "--checkpoint", str(folder), "--pairs", "test", "-o", str(tmp_path / "x.tsv")),
                     "records no fold sides", "run epizoo bench again")


def copy_checkpoint(run: Path, source: str, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / f"ckpt-{source}"
    shutil.copytree(checkpoint(run, source), folder)
    described = json.loads((folder / "checkpoint.json").read_text())
    described.update(changes)
    (folder / "checkpoint.json").write_text(json.dumps(described))
    write_checkpoint_manifest(folder)  # an edit on purpose: the manifest would refuse it
    return folder


def one_line_failure(result, *words: str) -> None:
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_newer_format_and_missing_model_are_one_line(run, tmp_path):
    newer = copy_checkpoint(run, "epivan", tmp_path, format=CHECKPOINT_FORMAT + 1, epizoo_version="9.0")
    with pytest.raises(EpizooError, match="newer than this epizoo.*upgrade epizoo"):
        epizoo.load_model(newer)
    absent = copy_checkpoint(run, "simcnn", tmp_path, model="no-such-model", plugin={"distribution": "epizoo-extra", "version": "2.1"})
    with pytest.raises(UnknownNameError, match="'no-such-model', which is not installed; install epizoo-extra 2.1"):
        epizoo.load_model(absent)


def test_weights_that_do_not_fit_are_one_line(run, tmp_path):
    folder = copy_checkpoint(run, "epivan", tmp_path)
    described = json.loads((folder / "checkpoint.json").read_text())
    described["hparams"]["filters"] = 7
    (folder / "checkpoint.json").write_text(json.dumps(described))
    with pytest.raises(EpizooError, match="checkpoint.json does not match its checksum"):
        load_checkpoint_model(folder)  # an edited checkpoint is refused
    write_checkpoint_manifest(folder)
    with pytest.raises(EpizooError, match="does not fit the installed epivan"):
        load_checkpoint_model(folder)
    (folder / "weights.safetensors").write_bytes(b"garbage")
    write_checkpoint_manifest(folder)  # weights that pass the checksum but are no safetensors file
    with pytest.raises(EpizooError, match="unreadable weights"):
        load_checkpoint_model(folder)


def test_a_checkpoint_without_the_format_key_still_loads(run, store, tmp_path):
    """Format 1 (before this version) recorded only the spec's hparams; the factory's defaults fill the rest."""
    folder = copy_checkpoint(run, "epivan", tmp_path)
    described = json.loads((folder / "checkpoint.json").read_text())
    del described["format"]
    described["hparams"] = {k: described["hparams"][k] for k in ("enhancer_length", "promoter_length", "filters", "gru_units", "attention_dim")}
    (folder / "checkpoint.json").write_text(json.dumps(described))
    (folder / "manifest.json").unlink()  # format 1 came before checkpoint manifests
    module, _spec = epizoo.load_model(folder)
    assert isinstance(module, torch.nn.Module)


def test_bad_inputs_are_one_line_and_write_nothing(run, store, tmp_path):
    out = tmp_path / "out.tsv"
    ckpt = str(checkpoint(run, "epivan"))
    newer = copy_checkpoint(run, "epivan", tmp_path, format=CHECKPOINT_FORMAT + 1)
    cases = [
        (["--checkpoint", str(tmp_path / "nowhere")], ["does not exist"]),
        (["--checkpoint", str(tmp_path)], ["checkpoint.json is missing"]),
        (["--checkpoint", str(newer)], ["newer than this epizoo"]),
        (["--checkpoint", ckpt, "--run", str(run)], ["not both"]),
        ([], ["--checkpoint CKPT, or --run RUN"]),
        (["--run", str(run), "--model", "epivan"], ["several folds", "chr1, chr2"]),
        (["--run", str(run), "--model", "epivan", "--fold", "chr9"], ["--fold chr9", "chr1, chr2"]),
        (["--run", str(run), "--model", "kmer", "--fold", "chr1"], ["--model kmer", "distance, epivan, simcnn"]),
        (["--run", str(tmp_path), "--model", "epivan"], ["not an epizoo run directory"]),
    ]
    for options, words in cases:
        one_line_failure(invoke("predict", store, *options, "-o", str(out)), *words)
    one_line_failure(invoke("predict", str(tmp_path / "missing.zarr"), "--checkpoint", ckpt, "-o", str(out)))
    one_line_failure(invoke("predict", store, "--checkpoint", ckpt, "-o", str(tmp_path)), "is a folder")
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_predict_test_pairs_on_another_store_is_refused(run, tmp_path):
    other = tmp_path / "other.zarr"
    epizoo.simulate_store(other, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=3)
    out = tmp_path / "out.tsv"
    result = invoke("predict", str(other), "--run", str(run), "--model", "distance", "--fold", "chr1", "--pairs", "test", "-o", str(out))
    one_line_failure(result, "is not the store checkpoint", "was trained on")
    assert not out.exists()


def test_every_model_rebuilds_from_what_its_checkpoint_records():
    """The recorded hparams (signature defaults included) rebuild each registered torch model so that
    its weights load strictly; scikit-learn models record theirs too."""
    from epizoo.checkpoint import Checkpoint, checkpoint_model_fields, model_windows
    from epizoo.plugins import get_models

    for name, spec in get_models().items():
        fields = checkpoint_model_fields(spec, spec.hparams(tiny=True))
        json.dumps(fields)  # all of it is JSON
        assert fields["model"] == name and fields["plugin"]["distribution"] == ZOO_DISTRIBUTION
        if spec.kind != "torch":
            continue
        trained = spec.factory(**spec.hparams(tiny=True))
        recorded = Checkpoint(Path(name), spec, fields, model_windows(spec, fields))
        rebuilt = spec.factory(**recorded.factory_arguments())
        rebuilt.load_state_dict(trained.state_dict())  # strict: every shape matches


def test_predict_refuses_a_corrupted_store_in_one_line(run, store, tmp_path):
    """A chunk overwritten with same-size garbage passes open's size check; predict verifies checksums."""
    import os

    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(store, damaged)
    chunk = next(path for path in sorted((damaged / "promoter_sequence").rglob("*")) if path.is_file() and "/c/" in str(path))
    chunk.write_bytes(os.urandom(chunk.stat().st_size))
    out = tmp_path / "scores.tsv"
    result = CliRunner().invoke(cli, ["predict", str(damaged), "--checkpoint", str(checkpoint(run, "simcnn")), "-o", str(out)])
    one_line_failure(result, "damaged in promoter_sequence")
    assert not out.exists()


# ---- predict --bedpe: a user's pairs with a genome FASTA (or pre-extracted regions) -----------------
CONTIG = 8000
# (enhancer, promoter, name, label), deliberately not in contig order
BEDPE_PAIRS = [
    (("chr2", 3000, 3400), ("chr2", 5200, 5500), "pz", 1),
    (("chr1", 1200, 1500), ("chr1", 4000, 4300), "pa", 0),
    (("chr3", 500, 900), ("chr3", 6000, 6200), "pm", 1),
    (("chr1", 6100, 6500), ("chr1", 2000, 2250), ".", 0),
    (("chr2", 100, 400), ("chr3", 7000, 7400), "pb", 1),
    (("chr1", 3000, 3300), ("chr1", 7200, 7900), "pc", 0),
]


@pytest.fixture(scope="module")
def genome_fa(tmp_path_factory) -> Path:
    from epizoo.sources.genome import ArrayGenome

    rng = np.random.default_rng(7)
    genome = ArrayGenome({name: rng.integers(0, 4, CONTIG, dtype=np.int8) for name in ("chr1", "chr2", "chr3")})
    return genome.write_fasta(tmp_path_factory.mktemp("predict-genome") / "genome.fa")


def write_bedpe(path: Path, rows=BEDPE_PAIRS, labels: bool = True) -> Path:
    lines = []
    for (c1, s1, e1), (c2, s2, e2), name, label in rows:
        fields = [c1, s1, e1, c2, s2, e2, name] + (["0", "+", "+", label] if labels else [])
        lines.append("\t".join(map(str, fields)))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """Where predict's temporary store goes, to check it is removed."""
    import tempfile

    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("model", MODELS)
def test_predict_a_bedpe_gives_the_scores_of_its_store(run, genome_fa, tmp_path, scratch, model):
    """The scores of a BEDPE equal those of the same pairs in a store build-store made of it (other windows),
    one row per BEDPE pair, in the file's order, named by its name column."""
    bedpe = write_bedpe(tmp_path / "pairs.bedpe")
    built = tmp_path / "built.zarr"
    result = invoke("build-store", "--dataset", "bedpe", "--bedpe", str(bedpe), "--genome", str(genome_fa), "--out", str(built),
                    "--no-progress")  # the default windows, 3000 and 2000 bp: wider than the k-mer and one-hot models read
    assert result.exit_code == 0, result.output
    ckpt = str(checkpoint(run, model))
    from_store, from_bedpe, as_bedpe = tmp_path / "store.tsv", tmp_path / "bedpe.tsv", tmp_path / "scores.bedpe"
    result = invoke("predict", str(built), "--checkpoint", ckpt, "-o", str(from_store))
    assert result.exit_code == 0, result.output
    result = invoke("predict", "--bedpe", str(bedpe), "--genome", str(genome_fa), "--checkpoint", ckpt, "-o", str(from_bedpe))
    assert result.exit_code == 0, result.output
    assert invoke("predict", "--bedpe", str(bedpe), "--genome", str(genome_fa), "--checkpoint", ckpt, "-o", str(as_bedpe)).exit_code == 0
    expected = pd.read_csv(from_store, sep="\t", comment="#", keep_default_na=False)
    ours = pd.read_csv(from_bedpe, sep="\t", comment="#", keep_default_na=False)
    assert list(ours.columns) == list(expected.columns)
    names = [name if name != "." else "" for _, _, name, _ in BEDPE_PAIRS]
    assert ours["pair_name"].tolist() == names and ours["pair"].tolist() == list(range(len(BEDPE_PAIRS)))
    assert ours["label"].tolist() == [label for *_, label in BEDPE_PAIRS]
    joined = ours.merge(expected, on="pair_name", suffixes=("", "_store"))
    assert len(joined) == len(BEDPE_PAIRS)
    np.testing.assert_allclose(joined["score"], joined["score_store"], atol=2e-6)
    assert (joined["label"] == joined["label_store"]).all() and (joined["distance"] == joined["distance_store"]).all()
    # -o x.bedpe: the BEDPE's columns, its name (else pair_N) and the score, strands, in the input's order
    table = pd.read_csv(as_bedpe, sep="\t", comment="#", header=None, keep_default_na=False)
    assert table.shape == (len(BEDPE_PAIRS), 16)
    for i, (row, ((c1, s1, e1), (c2, s2, e2), name, _)) in enumerate(zip(table.itertuples(index=False), BEDPE_PAIRS)):
        assert tuple(row[:7]) == (c1, s1, e1, c2, s2, e2, name if name != "." else f"pair_{i}") and row[8:10] == (".", ".")
    np.testing.assert_allclose(table[7], ours["score"], atol=1e-9)
    assert not list(scratch.iterdir()) and not list(tmp_path.glob(".*.tmp"))


def test_predict_an_unlabelled_bedpe_with_regions(run, genome_fa, tmp_path, scratch):
    """A BEDPE without a label column (refused by build-store: no negatives) is scored; a repeated row
    keeps its place and score; pre-extracted regions give the genome's scores."""
    rows = [*BEDPE_PAIRS, BEDPE_PAIRS[1]]
    bedpe = write_bedpe(tmp_path / "unlabelled.bedpe", rows, labels=False)
    refused = invoke("build-store", "--dataset", "bedpe", "--bedpe", str(bedpe), "--genome", str(genome_fa), "--out", str(tmp_path / "s.zarr"))
    one_line_failure(refused, "no negatives")
    # regions: each element with 2 kb either side (clipped to its contig), as `bedtools getfasta` writes them
    from epizoo.sources.genome import FastaGenome
    from epizoo.sequence import decode

    genome = FastaGenome(genome_fa)
    records = set()
    for pair in rows:
        for contig, start, end in pair[:2]:
            records.add((contig, max(start - 2000, 0), min(end + 2000, CONTIG)))
    regions = tmp_path / "regions.fa"
    regions.write_text("".join(f">{c}:{s}-{e}\n{decode(genome.fetch(c, s, e))}\n" for c, s, e in sorted(records)))
    ckpt = str(checkpoint(run, "epivan"))
    scored = {}
    for name, source in (("genome", ["--genome", str(genome_fa)]), ("regions", ["--regions", str(regions)])):
        out = tmp_path / f"{name}.tsv"
        result = invoke("predict", "--bedpe", str(bedpe), *source, "--checkpoint", ckpt, "-o", str(out))
        assert result.exit_code == 0, result.output
        scored[name] = pd.read_csv(out, sep="\t", comment="#", keep_default_na=False)
    table = scored["genome"]
    assert len(table) == len(rows) and (table["label"] == 1).all()
    assert table["pair_name"].tolist() == [name if name != "." else "" for _, _, name, _ in rows]
    assert table["score"].iloc[-1] == table["score"].iloc[1]
    np.testing.assert_allclose(scored["regions"]["score"], table["score"], atol=2e-6)
    assert not list(scratch.iterdir())


def test_predict_bedpe_bad_inputs_are_one_line_and_write_nothing(run, genome_fa, store, tmp_path, scratch):
    ckpt = str(checkpoint(run, "simcnn"))
    good = write_bedpe(tmp_path / "good.bedpe")
    absent = write_bedpe(tmp_path / "absent.bedpe", [(("chr9", 100, 300), ("chr9", 2000, 2200), "x", 1), *BEDPE_PAIRS])
    malformed = tmp_path / "malformed.bedpe"
    malformed.write_text("chr1\t500\t400\tchr1\t900\t1000\tbad\n")
    short = tmp_path / "short.bedpe"
    short.write_text("chr1\t100\t200\tchr1\n")
    partial = tmp_path / "partial.fa"  # covers only the first pair's elements
    partial.write_text(">chr2:2000-6000\n" + "A" * 4000 + "\n")
    genome = ["--genome", str(genome_fa)]
    for out in (tmp_path / "out.tsv", tmp_path / "out.bedpe"):
        cases = [
            (["--bedpe", str(good), "--genome", str(tmp_path / "missing.fa")], ["genome FASTA", "does not exist"]),
            (["--bedpe", str(absent), *genome], ["'chr9'", "is not in genome.fa"]),
            (["--bedpe", str(malformed), *genome], ["malformed.bedpe:1", "end1 must be greater than start1"]),
            (["--bedpe", str(short), *genome], ["short.bedpe:1", "a BEDPE row needs at least 6"]),
            (["--bedpe", str(tmp_path / "nowhere.bedpe"), *genome], ["not found"]),
            (["--bedpe", str(good)], ["--genome FASTA", "--regions"]),
            (["--bedpe", str(good), "--regions", str(partial)], ["5 of the 6 pairs", "no sequence in partial.fa"]),
            (["--bedpe", str(good), *genome, "--regions", str(partial)], ["not both"]),
            (["--bedpe", str(good), *genome, "--run", str(run), "--model", "simcnn", "--fold", "chr1", "--pairs", "test"], ["--pairs test"]),
            ([store, "--bedpe", str(good), *genome], ["STORE or --bedpe", "not both"]),
            ([], ["a STORE, or --bedpe"]),
            ([store, *genome], ["with a STORE leave them out"]),
        ]
        for options, words in cases:
            if "--run" not in options:
                options = [*options, "--checkpoint", ckpt]
            one_line_failure(invoke("predict", *options, "-o", str(out)), *words)
        assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    assert not list(scratch.iterdir())


@pytest.mark.parametrize("model", MODELS)
def test_scoring_reports_every_pair_to_the_progress_bar(run, store, model):
    from epizoo.inference import score_pairs

    loaded, spec, described = load_checkpoint_model(checkpoint(run, model))
    counted = []
    pairs, _, _ = score_pairs(loaded, spec, described, store, np.arange(60), "cpu", 16, on_batch=counted.append)
    assert sum(counted) == pairs.size == 60
    assert len(counted) == (4 if spec.kind == "torch" else 1)  # torch: a report per batch of 16


def test_predict_shows_a_progress_bar_unless_told_not_to(run, store, tmp_path, monkeypatch):
    from epizoo import console

    monkeypatch.setattr(console.stderr, "_force_terminal", True)  # a bar is drawn on a terminal, not in a pipe
    shown = CliRunner().invoke(cli, ["predict", store, "--checkpoint", str(checkpoint(run, MODELS[0])), "-o", str(tmp_path / "a.tsv")])
    assert shown.exit_code == 0, shown.output
    assert "scoring pairs" in shown.stderr and "90/90" in shown.stderr
    quiet = CliRunner().invoke(cli, ["predict", store, "--checkpoint", str(checkpoint(run, MODELS[0])), "-o", str(tmp_path / "b.tsv"),
                                     "--no-progress"])
    assert quiet.exit_code == 0 and "scoring pairs" not in quiet.stderr
    monkeypatch.setattr(console.stderr, "_force_terminal", False)
    piped = CliRunner().invoke(cli, ["predict", store, "--checkpoint", str(checkpoint(run, MODELS[0])), "-o", str(tmp_path / "c.tsv")])
    assert piped.exit_code == 0 and "scoring pairs" not in piped.stderr  # a log file gets no leftover bar


# ---- genome-browser outputs -------------------------------------------------------------------------
def test_prediction_tables_carry_both_elements_coordinates(run, store):
    ds = epizoo.open_store(store)
    table = bench_table(run, "simcnn")
    contigs = ds["contig_id"].values
    for kind in ("enhancer", "promoter"):
        rows = table[kind].to_numpy()
        assert table[f"{kind}_contig"].tolist() == contigs[ds[f"{kind}_contig"].values[rows]].tolist()
        assert table[f"{kind}_start"].tolist() == ds[f"{kind}_start"].values[rows].tolist()
        assert table[f"{kind}_end"].tolist() == ds[f"{kind}_end"].values[rows].tolist()
    assert (table["enhancer_contig"] == table["contig"]).all()


def test_predict_writes_bedpe_that_pybedtools_reads(run, store, tmp_path):
    pybedtools = pytest.importorskip("pybedtools")
    tsv, bedpe = tmp_path / "all.tsv", tmp_path / "all.bedpe"
    ckpt = str(checkpoint(run, "simcnn"))
    assert invoke("predict", store, "--checkpoint", ckpt, "-o", str(tsv), "--no-progress").exit_code == 0
    result = invoke("predict", store, "--checkpoint", ckpt, "-o", str(bedpe), "--no-progress")
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(tsv, sep="\t", comment="#", keep_default_na=False)
    assert all(line.startswith("#") or "\t" in line for line in bedpe.read_text().splitlines())
    intervals = list(pybedtools.BedTool(str(bedpe)))
    assert len(intervals) == len(expected)
    for interval, row in zip(intervals, expected.itertuples(index=False)):
        fields = interval.fields
        assert len(fields) == 16 and fields[8:10] == [".", "."]
        assert (interval.chrom, interval.start, interval.end) == (row.enhancer_contig, row.enhancer_start, row.enhancer_end)
        assert (fields[3], int(fields[4]), int(fields[5])) == (row.promoter_contig, row.promoter_start, row.promoter_end)
        assert fields[6] == (row.pair_name or f"pair_{row.pair}")
        assert float(fields[7]) == pytest.approx(row.score, abs=1e-9) and int(fields[10]) == row.label


def read_interact(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]


def test_predict_writes_sorted_ucsc_interact(run, store, tmp_path):
    """bed5+13 as bedToBigBed -as=interact.as -type=bed5+13 takes it: 18 columns, integer fields,
    score 0-1000 from the probability, the span covers both elements, sorted by chrom then start."""
    tsv, interact = tmp_path / "all.tsv", tmp_path / "all.bed"
    ckpt = str(checkpoint(run, "simcnn"))
    assert invoke("predict", store, "--checkpoint", ckpt, "-o", str(tsv), "--no-progress").exit_code == 0
    result = invoke("predict", store, "--checkpoint", ckpt, "-o", str(interact), "--format", "interact", "--no-progress")
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(tsv, sep="\t", comment="#", keep_default_na=False)
    rows = read_interact(interact)
    assert len(rows) == len(expected) and all(len(row) == 18 for row in rows)
    by_name = {row.pair_name or f"pair_{row.pair}": row for row in expected.itertuples(index=False)}
    for row in rows:
        start, end, score, color, s0, s1, t0, t1 = (int(row[i]) for i in (1, 2, 4, 7, 9, 10, 14, 15))
        want = by_name[row[3]]
        assert 0 <= score <= 1000 and score == round(want.score * 1000) and float(row[5]) == pytest.approx(want.score, abs=1e-9)
        assert (row[8], s0, s1) == (want.enhancer_contig, want.enhancer_start, want.enhancer_end)
        assert (row[13], t0, t1) == (want.promoter_contig, want.promoter_start, want.promoter_end)
        assert row[0] == row[8] == row[13] and start == min(s0, t0) and end == max(s1, t1) and start < end
        assert row[12] == row[17] == "." and color == 0
    keys = [(row[0].encode(), int(row[1])) for row in rows]
    assert keys == sorted(keys)
    assert invoke("predict", store, "--checkpoint", ckpt, "-o", str(tmp_path / "x.interact"), "--no-progress").exit_code == 0
    assert read_interact(tmp_path / "x.interact") == rows  # the suffix chooses it too
