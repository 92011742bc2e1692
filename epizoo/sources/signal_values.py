"""What every signal source returns (:mod:`epizoo.sources.signals` and its bigWig source :mod:`epizoo.sources.signal_tracks`):
``Signals`` over the ``REGIONS`` of a pair, and the digest of the files they came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

REGIONS = ("enhancer", "promoter", "window")


@dataclass
class Signals:
    """Signal values aligned to a pair table: ``values[i]`` is pair i's (marks, regions) array."""

    values: np.ndarray  # float32 (pairs, marks, regions), NaN where unmeasured
    marks: tuple[str, ...]
    source: str  # what the values came from, for the store's provenance
    sha256: str
    missing: dict[str, int] = field(default_factory=dict)  # pairs without values, per reason

    @property
    def has(self) -> np.ndarray:
        return ~np.isnan(self.values).all(axis=(1, 2))


def _sha256(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
