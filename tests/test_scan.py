"""``epizoo scan``: every pair within a distance range, scored as ``epizoo predict`` scores it, written
sorted, bgzipped and tabix-indexed; the same rows with dask; one clear line for each bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EmptyResultError, EpizooError, InputFileError, SequenceError
from epizoo.inference_scan import COLUMNS, plan_genome, read_bed, read_gtf_tss

MODELS = ("epivan", "simcnn", "distance")  # a k-mer model, a one-hot model and a scikit-learn one
CONTIGS = {"chr1": 60_000, "chr2": 50_000, "chr10": 40_000, "chrUn": 5_000}  # chr2 sorts before chr10
MIN, MAX = 2_000, 20_000


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_failure(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


# ---- inputs ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """A FASTA, an enhancer BED, a GTF and a promoter BED, with the promoters' TSSs worked out here."""
    from epizoo.sources.genome import ArrayGenome

    folder = tmp_path_factory.mktemp("scan")
    rng = np.random.default_rng(11)
    genome = ArrayGenome({name: rng.integers(0, 4, size, dtype=np.int8) for name, size in CONTIGS.items()})
    enhancers, transcripts = [], []
    for contig in ("chr1", "chr2", "chr10"):
        size = CONTIGS[contig]
        for i in range(12):
            start = int(rng.integers(0, size - 600))
            enhancers.append((contig, start, start + int(rng.integers(100, 600)), f"{contig}e{i}"))
        for g in range(4):
            strand = "+-"[g % 2]
            for t in range(2):  # two transcripts per gene, the second sometimes sharing the first's TSS
                start = int(rng.integers(1, size - 3000)) if t == 0 or g == 2 else transcripts[-1][1]
                transcripts.append((contig, start, start + int(rng.integers(500, 3000)), strand, f"{contig}g{g}"))
    # ties: a second enhancer with the same start; a promoter exactly MIN and one exactly MAX away
    enhancers.append(("chr1", enhancers[0][1], enhancers[0][2] + 40, "tie"))
    centre = (enhancers[0][1] + enhancers[0][2]) // 2
    transcripts += [("chr1", centre + MIN + 1, centre + MIN + 900, "+", "at-min"), ("chr1", centre - MAX - 899, centre - MAX + 1, "-", "at-max")]
    paths = {"genome": genome.write_fasta(folder / "genome.fa"), "enhancers": folder / "enhancers.bed", "gtf": folder / "genes.gtf",
             "promoters_bed": folder / "promoters.bed"}
    paths["enhancers"].write_text("".join(f"{c}\t{s}\t{e}\t{n}\n" for c, s, e, n in enhancers))
    paths["gtf"].write_text("#!genome-build test\n" + "".join(
        f'{c}\ttest\ttranscript\t{s}\t{e}\t.\t{strand}\t.\tgene_id "{g}"; transcript_id "{g}.{i}"; gene_name "{g.upper()}";\n'
        for i, (c, s, e, strand, g) in enumerate(transcripts)
    ))
    tss = sorted({(c, s - 1 if strand == "+" else e - 1, strand) for c, s, e, strand, _ in transcripts})
    promoter_bed = [(c, max(0, t - 500), t + 500, f"p{i}") for i, (c, t, _) in enumerate(tss)]
    paths["promoters_bed"].write_text("".join(f"{c}\t{s}\t{e}\t{n}\t0\t+\n" for c, s, e, n in promoter_bed))
    return {**paths, "enhancer_rows": enhancers, "transcripts": transcripts, "tss": tss, "promoter_bed_rows": promoter_bed}


def brute_force(enhancers, promoters) -> list[tuple]:
    """Every (enhancer, promoter) on one contig with MIN <= |centre - anchor| < MAX, by a double loop."""
    pairs = []
    for ec, es, ee, _ in enhancers:
        for pc, ps, pe in promoters:
            distance = abs((es + ee) // 2 - (ps + pe) // 2)
            if ec == pc and MIN <= distance < MAX:
                pairs.append((ec, es, ee, ps, pe, distance))
    return pairs


def save_tiny_checkpoint(folder: Path, name: str) -> Path:
    """A seeded, untrained tiny model saved as a stand-alone checkpoint (the scikit-learn one fitted
    on random windows): scores need weights, not training."""
    import torch

    from epizoo.checkpoint import checkpoint_model_fields
    from epizoo.plugins import get_model
    from epizoo.checkpoint import save_checkpoint

    spec = get_model(name)
    hparams = spec.hparams(tiny=True)
    fields = checkpoint_model_fields(spec, hparams)
    if spec.kind == "torch":
        torch.manual_seed(0)
        save_checkpoint(folder, fields, state=spec.factory(**hparams).state_dict())
    else:
        rng = np.random.default_rng(0)
        codes = [rng.integers(0, 4, (40, hparams[f"{kind}_length"]), dtype=np.int8) for kind in ("enhancer", "promoter")]
        estimator = spec.factory(**hparams).fit(spec.features(*codes, rng.integers(1000, 50_000, 40)), np.arange(40) % 2)
        save_checkpoint(folder, fields, estimator=estimator)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scan-checkpoints")
    return {name: save_tiny_checkpoint(folder / name, name) for name in MODELS}


def read_scan(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment="#", header=None, names=list(COLUMNS), keep_default_na=False)


def scan(inputs, checkpoint, out, **options):
    options = {"min_distance": MIN, "max_distance": MAX, **options}
    return epizoo.scan(checkpoint, inputs["genome"], inputs["enhancers"], inputs["gtf"], out, **options)


# ---- pairs -----------------------------------------------------------------------------------------
def test_readers_place_promoters_on_the_tss(inputs):
    promoters = read_gtf_tss(inputs["gtf"])
    got = sorted(zip(promoters.contig, promoters.start.tolist(), promoters.end.tolist()))
    assert got == sorted({(c, t, t + 1) for c, t, _ in inputs["tss"]})
    assert (promoters.anchor == promoters.start).all()
    genes = read_gtf_tss(inputs["gtf"], per="gene")
    for contig, start, name in zip(genes.contig, genes.start.tolist(), genes.name):
        own = [(s - 1, e - 1, strand) for c, s, e, strand, g in inputs["transcripts"] if g.upper() == name]
        strand = own[0][2]
        assert start == (min(s for s, _, _ in own) if strand == "+" else max(e for _, e, _ in own)), name
    assert len(genes) == len({g for *_, g in inputs["transcripts"]})
    bed = read_bed(inputs["promoters_bed"])
    assert bed.anchor.tolist() == [(s + e) // 2 for _, s, e, _ in inputs["promoter_bed_rows"]]


def test_candidate_pairs_equal_a_brute_force_count(inputs):
    tss = [(c, t, t + 1) for c, t, _ in inputs["tss"]]
    expected = brute_force(inputs["enhancer_rows"], tss)
    plans = plan_genome(read_bed(inputs["enhancers"]), read_gtf_tss(inputs["gtf"]), MIN, MAX)
    assert [plan.contig for plan in plans] == ["chr1", "chr2", "chr10"]
    found = []
    for plan in plans:
        for e, p in plan.blocks(size=7):  # small blocks: many block boundaries
            en, pr = plan.enhancers, plan.promoters
            found += [(plan.contig, en.start[i], en.end[i], pr.start[j], pr.end[j], abs(en.anchor[i] - pr.anchor[j])) for i, j in zip(e, p)]
    assert sorted(found) == sorted(expected) and len(found) == sum(plan.n_pairs for plan in plans)
    distances = [row[-1] for row in expected]
    assert MIN in distances and MAX not in distances  # the minimum is included, the maximum excluded


@pytest.mark.parametrize("model", [pytest.param(name, marks=pytest.mark.slow) if name == "epivan" else name for name in MODELS])
def test_scan_scores_equal_predict_on_the_same_pairs(inputs, checkpoints, tmp_path, model):
    """Every pair in range, once, sorted; each score the one `epizoo predict --bedpe` gives the scan's own output."""
    out = tmp_path / "scan.bedpe.gz"
    done = scan(inputs, checkpoints[model], out, batch_size=64)
    table = read_scan(out)
    expected = brute_force(inputs["enhancer_rows"], [(c, t, t + 1) for c, t, _ in inputs["tss"]])
    assert done["pairs"] == len(table) == len(expected) and done["model"] == model and done["contigs"] == 3
    assert sorted(map(tuple, table[["chrom1", "start1", "end1", "start2", "end2", "distance"]].itertuples(index=False))) == sorted(expected)
    assert (table["chrom1"] == table["chrom2"]).all() and (table[["strand1", "strand2"]] == ".").all().all()
    assert table["score"].between(0, 1).all()
    scored = tmp_path / "predict.bedpe"
    result = invoke("predict", "--bedpe", str(out), "--genome", str(inputs["genome"]), "--checkpoint", str(checkpoints[model]), "-o", str(scored))
    assert result.exit_code == 0, result.output
    again = pd.read_csv(scored, sep="\t", comment="#", header=None, keep_default_na=False)
    assert again[6].tolist() == table["name"].tolist()
    np.testing.assert_allclose(table["score"], again[7], rtol=1e-5, atol=2e-6)


def test_output_is_sorted_bgzipped_and_tabix_indexed(inputs, checkpoints, tmp_path):
    import pysam

    out = tmp_path / "scan.bedpe.gz"
    scan(inputs, checkpoints["simcnn"], out)
    assert out.read_bytes()[:2] == b"\x1f\x8b" and Path(f"{out}.tbi").is_file()
    with gzip.open(out, "rt") as handle:
        assert handle.readline() == "#" + "\t".join(COLUMNS) + "\n"
    table = read_scan(out)
    rank = {"chr1": 0, "chr2": 1, "chr10": 2}
    keys = list(zip(table["chrom1"].map(rank), table["start1"], table["start2"]))
    assert keys == sorted(keys)
    tabix = pysam.TabixFile(str(out))
    assert set(tabix.contigs) == {"chr1", "chr2", "chr10"}
    lo, hi = 10_000, 30_000
    rows = [row.split("\t") for row in tabix.fetch("chr2", lo, hi)]
    wanted = table[(table["chrom1"] == "chr2") & (table["end1"] > lo) & (table["start1"] < hi)]
    assert len(rows) == len(wanted) > 0
    assert [(int(r[1]), int(r[4])) for r in rows] == list(zip(wanted["start1"], wanted["start2"]))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_plain_output_reading_per_batch_gives_the_same_rows(inputs, checkpoints, tmp_path):
    """A name without .gz is plain text; a zero memory budget reads windows per batch: same rows."""
    held, streamed = tmp_path / "held.bedpe.gz", tmp_path / "streamed.bedpe"
    scan(inputs, checkpoints["simcnn"], held, batch_size=32)
    scan(inputs, checkpoints["simcnn"], streamed, batch_size=32, memory_budget=0)
    assert not Path(f"{streamed}.tbi").exists()
    with gzip.open(held, "rt") as handle:
        assert handle.read() == streamed.read_text()


def test_promoter_bed_centres_windows_on_the_intervals(inputs, checkpoints, tmp_path):
    out = tmp_path / "bed.bedpe"
    done = epizoo.scan(checkpoints["distance"], inputs["genome"], inputs["enhancers"], inputs["promoters_bed"], out, min_distance=MIN, max_distance=MAX)
    expected = brute_force(inputs["enhancer_rows"], [row[:3] for row in inputs["promoter_bed_rows"]])
    assert done["pairs"] == len(expected) == len(read_scan(out))
    assert sorted(read_scan(out)["distance"]) == sorted(row[-1] for row in expected)


@pytest.mark.slow
def test_dask_by_contig_gives_the_single_process_rows(inputs, checkpoints, tmp_path):
    """One task per contig on a dask scheduler (two in-process workers, so no worker pays for importing
    torch again; ``--workers N`` starts the same tasks on N processes) gives the single process's file."""
    from distributed import LocalCluster

    one, two = tmp_path / "one.bedpe", tmp_path / "two.bedpe"
    scan(inputs, checkpoints["simcnn"], one, threads=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        done = scan(inputs, checkpoints["simcnn"], two, scheduler=cluster.scheduler_address, threads=1)
    assert done["pairs"] == len(read_scan(two)) > 0 and done["contigs"] == 3
    assert two.read_text() == one.read_text()


def test_workers_start_a_local_cluster_from_plain_parameters(monkeypatch):
    """``--workers N`` makes the bench's dask cluster from the worker count alone: no bench
    configuration (which a scan does not have), and no GPU resources (each job names its device)."""
    import distributed

    from epizoo import inference_scan

    made = {}

    class FakeCluster:
        def __init__(self, **kwargs):
            made.update(kwargs)

        def close(self):
            made["closed"] = True

    class FakeClient:
        dashboard_link = None

        def __init__(self, cluster, **kwargs):
            pass

        def scheduler_info(self):
            raise RuntimeError("stop after the cluster is made")

        def close(self):
            pass

    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", FakeClient)
    lines = []
    with pytest.raises(RuntimeError, match="stop after the cluster"):
        inference_scan._run_dask([], 2, None, lambda n: None, lines.append)
    assert made["n_workers"] == 2 and "resources" not in made and made["closed"]
    assert lines == ["dask: local cluster of 2 processes"]


# ---- the command -----------------------------------------------------------------------------------
def test_cli_end_to_end(inputs, checkpoints, tmp_path):
    out = tmp_path / "cli.bedpe.gz"
    result = invoke("scan", "--checkpoint", str(checkpoints["simcnn"]), "--genome", str(inputs["genome"]), "--enhancers", str(inputs["enhancers"]),
                    "--promoters", str(inputs["gtf"]), "--tss", "gene", "--min-distance", str(MIN), "--max-distance", str(MAX),
                    "--no-progress", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "scored" in result.stderr and "pairs/s" in result.stderr
    with gzip.open(out, "rt") as handle:
        text = handle.read()
    assert "# command: epizoo scan --checkpoint" in text and "--tss gene" in text
    genes = read_gtf_tss(inputs["gtf"], per="gene")
    assert len(read_scan(out)) == len(brute_force(inputs["enhancer_rows"], list(zip(genes.contig, genes.start, genes.end))))
    # --run RUN --model M picks the run's checkpoint, as predict does (one cell line and one fold: no need to name them)
    import shutil

    run = tmp_path / "run"
    shutil.copytree(checkpoints["simcnn"], run / "checkpoints" / "simcnn" / "SYN-A" / "chr1")
    (run / "config.json").write_text("{}")
    again = tmp_path / "again.bedpe.gz"
    result = invoke("scan", "--run", str(run), "--model", "SIMCNN", "--genome", str(inputs["genome"]), "--enhancers", str(inputs["enhancers"]),
                    "--promoters", str(inputs["gtf"]), "--tss", "gene", "--min-distance", str(MIN), "--max-distance", str(MAX),
                    "--no-progress", "-o", str(again))
    assert result.exit_code == 0, result.output
    assert read_scan(again).equals(read_scan(out))


def test_bad_inputs_are_one_line_and_write_nothing(inputs, checkpoints, tmp_path):
    out = tmp_path / "out.bedpe.gz"
    ckpt = str(checkpoints["simcnn"])
    corrupt = tmp_path / "corrupt"
    save_tiny_checkpoint(corrupt, "simcnn")
    (corrupt / "weights.safetensors").write_bytes(b"garbage")
    foreign = tmp_path / "foreign.bed"
    foreign.write_text("chr1\t100\t400\tok\nchr9\t100\t400\tno\nscaffold_7\t5\t50\tno\n")
    empty = tmp_path / "empty.bed"
    empty.write_text("# nothing here\n")
    far = tmp_path / "far.bed"
    far.write_text("chrUn\t100\t400\tlonely\n")
    binary = tmp_path / "binary.gtf"
    binary.write_bytes(b"\x00\xff\xfe\x80" * 50)
    short_gtf = tmp_path / "short.gtf"
    short_gtf.write_text("chr1\ttest\ttranscript\t100\n")
    base = ["--genome", str(inputs["genome"]), "--enhancers", str(inputs["enhancers"]), "--promoters", str(inputs["gtf"])]

    def options(**changes):
        words = list(base)
        for flag, value in changes.items():
            words[words.index(f"--{flag}") + 1] = str(value)
        return words

    cases = [
        (["--checkpoint", str(tmp_path / "nowhere"), *base], ["does not exist"]),
        (["--checkpoint", str(tmp_path), *base], ["checkpoint.json is missing"]),
        (["--checkpoint", str(corrupt), *base], ["is damaged or was edited", "weights.safetensors"]),
        (["--checkpoint", ckpt, *options(enhancers=foreign)], ["absent from genome.fa", "chr9, scaffold_7"]),
        (["--checkpoint", ckpt, *options(enhancers=empty)], ["has no elements"]),
        (["--checkpoint", ckpt, *options(enhancers=far)], ["no enhancer-promoter pair"]),
        (["--checkpoint", ckpt, *base, "--min-distance", "5000", "--max-distance", "5000"], ["--min-distance 5000", "below --max-distance"]),
        (["--checkpoint", ckpt, *options(promoters=binary)], ["binary.gtf", "is not UTF-8 text"]),
        (["--checkpoint", ckpt, *options(promoters=short_gtf)], ["short.gtf:1", "a GTF line has 9"]),
        (["--checkpoint", ckpt, *options(promoters=tmp_path / "missing.gtf")], ["not found"]),
        (["--checkpoint", ckpt, *base, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], ["not both"]),
        (base, ["--checkpoint CKPT, or --run RUN"]),
    ]
    for words, expected in cases:
        one_line_failure(invoke("scan", *words, "--no-progress", "-o", str(out)), *expected)
    assert not list(tmp_path.glob("out*")) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_models_a_fasta_cannot_feed_are_refused():
    """A contact-map model, or one of epigenomic signals, is one line; a distance-only model reads no windows."""
    from epizoo.inference_scan import scan_windows
    from epizoo.plugins import get_model

    lengths = {"enhancer_length": 600, "promoter_length": 400}
    with pytest.raises(EpizooError, match="chromnet is a contact-map model"):
        scan_windows(get_model("chromnet"), {})
    with pytest.raises(EpizooError, match="reads epigenomic signals, which a FASTA does not hold"):
        scan_windows(get_model("targetfinder-xgb"), lengths)
    assert scan_windows(get_model("distance"), lengths) == {"enhancer": 0, "promoter": 0}
    assert scan_windows(get_model("epizoo-cnn"), lengths) == {"enhancer": 600, "promoter": 400}


def test_errors_from_the_python_api(inputs, checkpoints, tmp_path):
    with pytest.raises(EpizooError, match="must be at least 0 and below"):
        scan(inputs, checkpoints["distance"], tmp_path / "x.bedpe", min_distance=10, max_distance=5)
    with pytest.raises(InputFileError, match="is a folder"):
        scan(inputs, checkpoints["distance"], tmp_path)
    with pytest.raises((SequenceError, EmptyResultError)):
        epizoo.scan(checkpoints["distance"], inputs["genome"], inputs["enhancers"], inputs["gtf"], tmp_path / "x.bedpe", min_distance=10**8, max_distance=10**9)
    assert json.dumps(scan(inputs, checkpoints["distance"], tmp_path / "ok.bedpe"))  # the counts are plain JSON
