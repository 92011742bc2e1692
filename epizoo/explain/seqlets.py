"""Seqlets and motifs from DeepLIFT/SHAP's hypothetical contributions, by modisco-lite's TF-MoDISco.

Per element kind, the explained pairs' one-hot windows and hypothetical contributions (``(n, L, 4)``,
as ``modiscolite.tfmodisco.TFMoDISco`` reads them) go to TF-MoDISco, which cuts seqlets around the
high-contribution windows, clusters them on their contribution profiles and aggregates each cluster
into a pattern. A pattern becomes a cluster of explain's table: its seqlets are the cluster's
segments, and its PWM is the pattern's letter frequencies trimmed to the positions whose summed
absolute contribution reaches ``TRIM`` of the pattern's largest (the rule of modisco-lite's own
report), then matched to JASPAR by the same TOMTOM code as the 3-mer clusters.

Only positive patterns (what raised the prediction) are kept, as ISM keeps positive drops. N positions
carry zero contribution (:mod:`epizoo.explain.deeplift`), so no seqlet is drawn from padding.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from epizoo.explain.segments import Segment
from epizoo.extras import require

TRIM = 0.3  # modisco-lite's report trims a pattern to the positions within 30% of its peak contribution
PSEUDO = 1e-3  # as the JASPAR targets: TOMTOM compares log-probabilities, so no letter is exactly 0


def _onehot(codes: np.ndarray) -> np.ndarray:
    """Codes ``(n, L)`` to float32 ``(n, L, 4)``; N is all zeros."""
    table = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    return table[codes.astype(np.intp)]


def trimmed_pwm(sequence: np.ndarray, contributions: np.ndarray, trim: float = TRIM) -> np.ndarray:
    """A pattern's ``(L, 4)`` letter frequencies, trimmed by its contributions, as ``(4, w)`` probabilities."""
    score = np.abs(contributions).sum(axis=1)
    keep = np.flatnonzero(score >= trim * score.max())
    ppm = np.asarray(sequence[keep.min() : keep.max() + 1], dtype=float).T + PSEUDO
    return ppm / ppm.sum(axis=0, keepdims=True)


def patterns(codes: np.ndarray, hypothetical: np.ndarray, *, window: int, min_seqlets: int) -> tuple[list, int]:
    """TF-MoDISco's positive patterns of ``codes`` ``(n, L)`` with ``hypothetical`` ``(n, 4, L)``, largest
    first, and the number of positive seqlets it found. ``min_seqlets``: the least seqlets a metacluster
    and a final pattern must have (modisco-lite's defaults, 100 and 20, suit thousands of regions)."""
    tfmodisco = require("modiscolite.tfmodisco", "explain")

    one_hot = _onehot(codes)
    scores = np.ascontiguousarray(np.transpose(hypothetical, (0, 2, 1)), dtype=np.float32)
    scores[one_hot.sum(axis=2) == 0] = 0.0
    if not np.abs(scores).sum():
        return [], 0
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines would mix into the command's output
        positive, _negative = tfmodisco.TFMoDISco(
            one_hot=one_hot, hypothetical_contribs=scores, sliding_window_size=window, flank_size=window // 2,
            min_metacluster_size=min_seqlets, final_min_cluster_size=min_seqlets, min_num_to_trim_to=min(30, min_seqlets),
            verbose=False)
    found = sorted(positive or [], key=lambda p: (-len(p.seqlets), -float(np.sum(p.contrib_scores))))
    return found, sum(len(p.seqlets) for p in found)


def clusters(kind: str, pair_ids: np.ndarray, codes: np.ndarray, hypothetical: np.ndarray, *, window: int,
             min_seqlets: int) -> tuple[list[tuple[list[Segment], np.ndarray]], dict[str, Any]]:
    """Per positive pattern (largest first), its seqlets as :class:`Segment` s and its trimmed PWM; and a
    note of how many seqlets went into patterns."""
    found, n_seqlets = patterns(codes, hypothetical, window=window, min_seqlets=min_seqlets)
    result = []
    for pattern in found:
        segments = []
        for seqlet in pattern.seqlets:
            start, end = max(int(seqlet.start), 0), min(int(seqlet.end), codes.shape[1])
            segments.append(Segment(kind, int(pair_ids[seqlet.example_idx]), start, codes[seqlet.example_idx, start:end],
                                    float(np.sum(seqlet.contrib_scores))))
        result.append((segments, trimmed_pwm(pattern.sequence, pattern.contrib_scores)))
    return result, {"patterns": len(found), "seqlets_in_patterns": n_seqlets}
