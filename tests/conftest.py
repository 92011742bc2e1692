"""Shared fixtures. Real-data tests read ../shared/data beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public data; tests that need it fail (not skip) when it is absent."""
    assert SHARED_DATA.is_dir(), f"real-data tests need {SHARED_DATA} (../shared/data beside the checkout)"
    return SHARED_DATA
