"""docs/walkthrough.md: every python block runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

WALKTHROUGH = Path(__file__).resolve().parents[1] / "docs" / "walkthrough.md"


def test_walkthrough_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", WALKTHROUGH.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(WALKTHROUGH), "exec"), namespace)
    assert (tmp_path / "walkthrough.zarr").is_dir()
    assert namespace["fold"].test.dtype == bool
