"""Adversarial inputs (issue 21): nothing lost, nothing silently wrong. Each bad input is one clear
line with a non-zero exit, and no command deletes a folder it did not make."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EmptyResultError, EpizooError, LeakageError
from epizoo.output_folder import MARKER, check_replaceable, made_by, write_marker

sys.path.insert(0, str(Path(__file__).parent))
from test_genome_layer import files  # noqa: E402,F401 (a fixture: FASTA, bigWigs and coolers)

sys.path.insert(0, str(Path(__file__).parent))


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_failure(result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adversarial") / "s.zarr"
    epizoo.simulate_store(path, n_pairs=60, n_contigs=3, cell_lines=1, seed=0)
    return path


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    return path


# ---- 1. --force replaces only what epizoo made ------------------------------------------------


def test_explain_force_never_deletes_a_user_folder(store, tmp_path):
    folder = _user_folder(tmp_path / "mine")
    result = invoke("explain", store, "--checkpoint", tmp_path / "ck", "--force", "-o", folder, "--no-progress")
    one_line_failure(result, "is not an epizoo explain output", "remove it yourself")
    assert (folder / "thesis.tex").read_text() == "years of work"


def test_explain_force_never_replaces_the_store_it_reads(store, tmp_path):
    result = invoke("explain", store, "--checkpoint", tmp_path / "ck", "--force", "-o", store, "--no-progress")
    one_line_failure(result, "is also an input")
    assert made_by(store) == "store"


def test_explain_force_never_replaces_a_store_or_another_commands_output(store, tmp_path):
    contact_run = tmp_path / "run"
    contact_run.mkdir()
    write_marker(contact_run, "train-contacts")
    for folder in (store, contact_run):
        with pytest.raises(EpizooError, match="is not an epizoo explain output"):
            check_replaceable(folder, True, "explain")
    assert made_by(contact_run) == "train-contacts" and made_by(store) == "store"


def test_force_replaces_an_earlier_output_of_the_same_command(tmp_path):
    earlier = tmp_path / "explained"
    earlier.mkdir()
    write_marker(earlier, "explain")
    check_replaceable(earlier, True, "explain")  # allowed
    with pytest.raises(EpizooError, match="already exists; pass --force"):
        check_replaceable(earlier, False, "explain")
    assert json.loads((earlier / MARKER).read_text())["kind"] == "explain"


def test_an_output_inside_an_input_or_holding_it_is_refused(store, tmp_path):
    with pytest.raises(EpizooError, match="is also an input"):
        check_replaceable(store / "explained", True, "explain", inputs=[store])
    with pytest.raises(EpizooError, match="is also an input"):
        check_replaceable(store.parent, True, "explain", inputs=[store])


def test_explain_staging_rechecks_before_it_deletes(tmp_path):
    """A folder that became a user's while explain ran is not deleted at the end."""
    from epizoo.explain import outputs

    out = tmp_path / "out"
    out.mkdir()
    write_marker(out, "explain")
    with pytest.raises(EpizooError, match="is not an epizoo explain output"):
        with outputs.staged_folder(out, True) as scratch:
            (out / MARKER).unlink()  # meanwhile, the user put their files there
            (out / "notes.txt").write_text("keep")
            (scratch / "summary.json").write_text("{}")
    assert (out / "notes.txt").read_text() == "keep" and not list(tmp_path.glob(".out.*"))


def test_explain_output_carries_the_marker(tmp_path):
    from epizoo.explain import outputs

    out = tmp_path / "out"
    with outputs.staged_folder(out, False) as scratch:
        (scratch / "summary.json").write_text("{}")
    assert made_by(out) == "explain"


def test_train_contacts_refuses_a_user_folder_and_its_store(store, tmp_path):
    folder = _user_folder(tmp_path / "mine")
    one_line_failure(invoke("train-contacts", store, "--tiny", "-o", folder), "already exists")
    one_line_failure(invoke("train-contacts", store, "--tiny", "-o", store / "run"), "is also an input")
    assert (folder / "thesis.tex").exists()


# ---- 2. train-contacts: no contig on two sides -----------------------------------------------


def test_train_contacts_refuses_overlapping_sides():
    from epizoo.contact.windows import chromosome_split

    contigs = ["chr1", "chr2", "chr3", "chrX"]
    with pytest.raises(LeakageError, match="chr2 is on both the train and the test side"):
        chromosome_split(contigs, {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chr2"]})
    with pytest.raises(LeakageError, match="chr3 is on both the train and the valid side"):
        chromosome_split(contigs, {"train": ["chr1", "chr3"], "valid": ["chr3"], "test": ["chrX"]})
    assert chromosome_split(contigs, {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chrX"]})["test"] == ["chrX"]


def test_train_contacts_cli_leakage_is_one_line(store, tmp_path):
    result = invoke("train-contacts", store, "--tiny", "--split-option", "train=chr1,chr2", "--split-option", "valid=chr3", "--split-option", "test=chr2", "-o", tmp_path / "r")
    one_line_failure(result, "leaks")
    assert not (tmp_path / "r").exists()


def test_a_draw_without_a_mapped_training_window_is_one_line():
    """``--max-pairs 2`` can draw only noise copies: one line before training, not a stack error after."""
    from test_chromnet import SPEC, FakeGenome

    from epizoo.contact import train as contact_train

    options = contact_train.ContactOptions(tiny=True, epochs=1, batch_size=2, max_windows=2, device="cpu", seed=4)
    with pytest.raises(EmptyResultError, match="raise --max-pairs"):
        contact_train.train_contact_model(SPEC, FakeGenome(), options)


# ---- 3. checkpoints carry a manifest, checked on load -----------------------------------------


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    from test_scan import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path / "ck", "simcnn")


def test_a_flipped_byte_in_the_weights_is_refused(tiny_checkpoint):
    from epizoo.checkpoint import load_checkpoint_model

    weights = tiny_checkpoint / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # a bit of a float: still a readable safetensors file, a different model
    weights.write_bytes(bytes(data))
    with pytest.raises(EpizooError, match="weights.safetensors does not match its checksum"):
        load_checkpoint_model(tiny_checkpoint)


def test_an_edited_window_length_is_refused_in_one_line(tiny_checkpoint, tmp_path):
    described = json.loads((tiny_checkpoint / "checkpoint.json").read_text())
    described["enhancer_length"] = int(described.get("enhancer_length") or 100) + 1
    (tiny_checkpoint / "checkpoint.json").write_text(json.dumps(described))
    result = invoke("scan", "--checkpoint", tiny_checkpoint, "--genome", tmp_path / "g.fa", "--enhancers", tmp_path / "e.bed",
                    "--promoters", tmp_path / "p.gtf", "-o", tmp_path / "o.bedpe.gz", "--no-progress")
    one_line_failure(result, "checkpoint.json does not match its checksum")
    from epizoo.checkpoint import load_checkpoint

    with pytest.raises(EpizooError, match="checkpoint.json does not match its checksum"):
        load_checkpoint(tiny_checkpoint)


def test_a_checkpoint_without_a_manifest_loads_with_one_warning(tiny_checkpoint, capsys):
    from epizoo.checkpoint import load_checkpoint_model

    (tiny_checkpoint / "manifest.json").unlink()
    load_checkpoint_model(tiny_checkpoint)
    load_checkpoint_model(tiny_checkpoint)
    warned = [line for line in capsys.readouterr().err.splitlines() if "manifest.json" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: checkpoint")


def test_a_missing_or_unlisted_checkpoint_file_is_refused(tiny_checkpoint):
    from epizoo.checkpoint import load_checkpoint

    (tiny_checkpoint / "estimator.joblib").write_bytes(b"planted")
    with pytest.raises(EpizooError, match="does not list"):
        load_checkpoint(tiny_checkpoint)
    (tiny_checkpoint / "estimator.joblib").unlink()
    (tiny_checkpoint / "weights.safetensors").unlink()
    with pytest.raises(EpizooError, match="weights.safetensors is missing"):
        load_checkpoint(tiny_checkpoint)


# ---- 4. inspect and splits check the small arrays' checksums ----------------------------------


@pytest.fixture
def flipped_labels(store, tmp_path) -> Path:
    """A copy of the store with one byte of a pair_label chunk changed (same size: open's check passes)."""
    import shutil

    copy = tmp_path / "flipped.zarr"
    shutil.copytree(store, copy)
    chunk = next(p for p in sorted((copy / "pair_label").rglob("*")) if p.is_file() and "c" in p.relative_to(copy / "pair_label").parts)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("command", [["inspect"], ["splits", "--split", "loco"]])
def test_inspect_and_splits_refuse_a_corrupted_label_chunk(flipped_labels, command):
    result = invoke(command[0], flipped_labels, *command[1:])
    one_line_failure(result, "damaged in pair_label", "does not match its checksum")


def test_inspect_of_a_sound_store_passes(store):
    assert invoke("inspect", store).exit_code == 0


# ---- 5. input validation -----------------------------------------------------------------------


def _feature_table(path: Path, value: str) -> Path:
    header = "enh_name,prom_name,celltype," + ",".join(f"CTCF ({r})" for r in ("enhancer", "promoter", "window"))
    rows = ["chr1:100-200|K562|_,chr1:5000-6000|K562|_,K562,0.1,0.2,0.3",
            f"chr1:300-400|K562|_,chr1:5000-6000|K562|_,K562,0.1,{value},0.3"]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e39", "3.5e38"])
def test_the_feature_table_refuses_non_finite_values(value, tmp_path):
    from epizoo.sources import signals
    from epizoo.errors import InputFileError

    with pytest.raises(InputFileError, match=r"line 3: CTCF \(promoter\) is .*not a finite number"):
        signals.read_feature_table(_feature_table(tmp_path / "f.csv", value))


def test_the_feature_table_keeps_large_finite_values_and_empty_cells(tmp_path):
    from epizoo.sources import signals

    table = signals.read_feature_table(_feature_table(tmp_path / "f.csv", "3e38"))
    assert np.isfinite(table.values[1, 0, 1])
    table = signals.read_feature_table(_feature_table(tmp_path / "g.csv", ""))
    assert np.isnan(table.values[1, 0, 1])


@pytest.fixture(scope="module")
def genome_only(files, tmp_path_factory) -> Path:
    from test_genome_layer import _build

    out = tmp_path_factory.mktemp("genome-only") / "g.zarr"
    _build(files, out)
    return out


def test_predict_and_explain_on_a_genome_only_store_are_one_line(genome_only, tmp_path):
    from test_scan import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path / "ck", "simcnn")
    for command in (["predict", genome_only, "--checkpoint", checkpoint, "-o", tmp_path / "p.tsv"],
                    ["explain", genome_only, "--checkpoint", checkpoint, "-o", tmp_path / "x", "--no-progress"]):
        line = one_line_failure(invoke(*command), "genome-only store", "no pairs")
        assert "rebuild" not in line  # it has a genome layer: rebuilding with --genome would not help
    assert not (tmp_path / "p.tsv").exists() and not (tmp_path / "x").exists()


def test_a_bedpe_header_naming_a_column_twice_is_refused(tmp_path):
    from epizoo.datasets.bedpe import read_bedpe
    from epizoo.errors import InputFileError

    path = tmp_path / "p.bedpe"
    path.write_text("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tlabel\tlabel\nchr1\t1\t2\tchr1\t5\t6\t1\t0\n")
    with pytest.raises(InputFileError, match="names label twice"):
        read_bedpe(path)
    path.write_text("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname1\tenhancer_name\nchr1\t1\t2\tchr1\t5\t6\ta\tb\n")
    with pytest.raises(InputFileError, match="names name1 twice"):
        read_bedpe(path)


@pytest.mark.parametrize("value", [str(2**63), str(2**70), "9" * 40])
def test_a_bedpe_coordinate_beyond_int64_is_one_line(value, tmp_path):
    from epizoo.datasets.bedpe import read_bedpe
    from epizoo.errors import InputFileError

    path = tmp_path / "p.bedpe"
    path.write_text(f"chr1\t1\t{value}\tchr1\t5\t6\n")
    with pytest.raises(InputFileError, match="end1 .* is beyond any genome"):
        read_bedpe(path)


def test_scan_max_distance_beyond_int64_is_a_usage_error(tmp_path):
    result = invoke("scan", "--checkpoint", tmp_path, "--genome", tmp_path / "g.fa", "--enhancers", tmp_path / "e.bed",
                    "--promoters", tmp_path / "p.gtf", "--max-distance", str(2**64), "-o", tmp_path / "o.bedpe.gz")
    assert result.exit_code == 2 and "Traceback" not in result.output and not isinstance(result.exception, OverflowError)
    assert "Error: Invalid value for '--max-distance'" in result.output


# ---- 6. bench: a full disk or a read-only folder is one line ------------------------------------


def _full_disk(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", "checkpoints/x/weights.safetensors")


def test_bench_full_disk_at_the_checkpoint_is_one_line(store, tmp_path, monkeypatch):
    import epizoo.bench.task as task

    monkeypatch.setattr(task, "save_checkpoint", _full_disk)
    result = invoke("bench", store, "--models", "distance", "--folds", "chr1", "--tiny", "--no-progress", "-o", tmp_path / "run")
    one_line_failure(result, "no space left on the device", "weights.safetensors", "--resume")


def test_bench_read_only_folder_at_the_plots_is_one_line(store, tmp_path, monkeypatch):
    import errno

    import epizoo.bench.report as report

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "learning_curves.png")

    monkeypatch.setattr(report, "make_plots", read_only)
    result = invoke("bench", store, "--models", "distance", "--folds", "chr1", "--tiny", "--no-progress", "-o", tmp_path / "run")
    one_line_failure(result, "cannot write: Read-only file system", "learning_curves.png", "--resume")


def test_a_gff3_is_read_for_its_gene_names(tmp_path):
    from epizoo.inference_scan import read_promoters

    path = tmp_path / "genes.gff"
    path.write_text(
        "##gff-version 3\n"
        "chr1\tensembl\tgene\t1000\t5000\t.\t+\t.\tID=gene:G1;Name=TP53;biotype=protein_coding\n"
        "chr1\tensembl\tmRNA\t1200\t5000\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;Name=TP53-201\n"
        "chr1\tensembl\tmRNA\t1000\t5000\t.\t+\t.\tID=transcript:T2;Parent=gene:G1;Name=TP53-202\n"
        "chr2\tensembl\tgene\t100\t900\t.\t-\t.\tID=gene:G2;Name=MY%2CGENE\n"
    )
    elements = read_promoters(path)
    assert list(elements.name) == ["TP53", "TP53"] and list(elements.start) == [999, 1199]
    assert list(read_promoters(path, "gene").name) == ["TP53"]
    path.write_text("chr2\tensembl\tgene\t100\t900\t.\t-\t.\tID=gene:G2;Name=MY%2CGENE\n")
    assert list(read_promoters(path).name) == ["MY,GENE"]
