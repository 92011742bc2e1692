"""Shared fixtures. Real-data tests read ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config) -> None:
    """``EPIZOO_TEST_TORCH_THREADS=1`` (or 2) runs the suite on that many torch threads: trained
    models' scores move with the thread count and the BLAS kernels, and every assertion on them
    must hold for both (commands given ``--threads`` still use their own)."""
    if not os.environ.get("EPIZOO_CACHE_DIR"):  # the model listing's cache: never the user's, in a test
        import tempfile

        os.environ["EPIZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="epizoo-test-cache-")
    threads = os.environ.get("EPIZOO_TEST_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public data; tests that need it fail (not skip) when it is absent."""
    assert SHARED_DATA.is_dir(), f"real-data tests need {SHARED_DATA} (../shared/data beside the checkout)"
    return SHARED_DATA


@pytest.fixture(scope="session")
def build_genome_store():
    """``build(path, max_distance, **options)``: ``epizoo build-store`` of the synthetic dataset with its
    genome layer (4 contigs of ~3 Mb: chr1, chr2, chr3, chrX; 2 cell lines; maps at 2 kb), through the
    CLI; ``options`` are further synthetic options (``n_pairs=60``, ``boundary=0.4``)."""
    from click.testing import CliRunner

    from epizoo.cli import cli

    def build(path: Path, max_distance: int, **options) -> str:
        settings = {"genome": "true", "n_contigs": 4, "cell_lines": 2, **options}
        args = [arg for key, value in settings.items() for arg in ("--option", f"{key}={value}")]
        result = CliRunner().invoke(cli, ["build-store", "--dataset", "synthetic", *args, "--bin-size", "2000",
                                          "--max-distance", str(max_distance), "--out", str(path), "--no-progress"])
        assert result.exit_code == 0, result.output
        return str(path)

    return build
