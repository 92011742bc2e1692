"""High-importance segments of the explained elements, clustered on their 3-mer frequencies.

The rule (documented in docs/explain.md): per element of a pair, at most ``per_element`` segments of
``width`` bp, each centred on a local peak of the per-base importance track: the highest base first,
then the next highest at least ``width`` bp from those taken, while the base's importance is positive
and at least ``min_fraction`` of the pair's largest importance over both elements. A relative
threshold because the scale differs between ISM (a probability drop) and gradient x input, and
between models.

Clustering follows the paper: each segment is a vector of 3-mer frequencies (counted on both strands,
so a motif and its reverse complement land together), grouped by Ward linkage on Euclidean distance
(``scipy.cluster.hierarchy``), cut into at most ``n_clusters`` clusters per element kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epizoo.sequence import N_CODE

MAX_CLUSTERED = 3000  # Ward linkage is quadratic in memory: a deterministic subsample beyond this


@dataclass
class Segment:
    kind: str  # enhancer or promoter
    pair: int
    start: int  # in the model window
    codes: np.ndarray  # int8, ``width`` long
    score: float  # the importance at its peak


def peaks(track: np.ndarray, width: int, floor: float, per_element: int) -> list[int]:
    """Positions of at most ``per_element`` peaks above ``floor``, at least ``width`` bp apart."""
    taken: list[int] = []
    for position in np.argsort(-track, kind="stable"):
        if track[position] <= floor or len(taken) == per_element:
            break
        if all(abs(int(position) - other) >= width for other in taken):
            taken.append(int(position))
    return taken


def pair_segments(pair: int, codes: dict[str, np.ndarray], tracks: dict[str, np.ndarray], width: int,
                  min_fraction: float, per_element: int) -> list[Segment]:
    """The segments of one pair (both elements), by the rule of the module docstring."""
    top = max(float(track.max()) for track in tracks.values())
    if top <= 0:
        return []
    found = []
    for kind, track in tracks.items():
        length = len(track)
        width_here = min(width, length)
        for centre in peaks(track, width_here, max(0.0, min_fraction * top), per_element):
            start = int(np.clip(centre - width_here // 2, 0, length - width_here))
            found.append(Segment(kind, pair, start, codes[kind][start : start + width_here], float(track[centre])))
    return found


def _reverse_complement(codes: np.ndarray) -> np.ndarray:
    return np.where(codes < N_CODE, 3 - codes, N_CODE)[::-1]


def trimer_frequencies(segments: list[Segment]) -> np.ndarray:
    """(segments, 64) frequencies of the 3-mers of each segment and its reverse complement (N skipped)."""
    table = np.zeros((len(segments), 64))
    for row, segment in enumerate(segments):
        for strand in (segment.codes, _reverse_complement(segment.codes)):
            words = np.lib.stride_tricks.sliding_window_view(strand.astype(np.int64), 3)
            words = words[(words < N_CODE).all(axis=1)]
            np.add.at(table[row], words @ np.array([16, 4, 1]), 1)
    return table / np.maximum(table.sum(axis=1, keepdims=True), 1)


def cluster(segments: list[Segment], n_clusters: int) -> list[list[Segment]]:
    """Ward clusters of ``segments`` on 3-mer frequencies, largest first (ties: by total importance)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(segments) > MAX_CLUSTERED:
        keep = np.unique(np.linspace(0, len(segments) - 1, MAX_CLUSTERED).round().astype(int))
        segments = [segments[i] for i in keep]
    if len(segments) < 2:
        return [segments] if segments else []
    labels = fcluster(linkage(trimer_frequencies(segments), method="ward", metric="euclidean"), n_clusters, "maxclust")
    groups = [[s for s, label in zip(segments, labels) if label == wanted] for wanted in np.unique(labels)]
    return sorted(groups, key=lambda g: (-len(g), -sum(s.score for s in g)))
