"""A motif per cluster, and its best matches in JASPAR.

The de novo step stands in for MEME (not a Python package): the cluster's segments are aligned on
a seed and the aligned sites counted into a PWM. The seed is the ``width``-mer, on either strand, that
agrees best with every segment (the sum over segments of the best match count); each segment then
contributes its best-matching ``width``-mer on either strand, and two rounds of realignment on the
PWM's log-odds refine the sites (hard expectation-maximisation, one site per segment).

The motifs are compared with JASPAR (``pyjaspar``'s offline database) and any user motifs by
TOMTOM (``memelite.tomtom``); the q-value of a match is the Benjamini-Hochberg correction of its
p-value over all targets of that query, as MEME's tomtom reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epizoo.errors import EpizooError, InputFileError
from epizoo.extras import require
from epizoo.sequence import N_CODE

PSEUDOCOUNT = 0.25  # per letter, in counts: a column seen in few sites stays off 0 and 1
REFINE_ROUNDS = 2
MAX_SITES = 400  # segments aligned per cluster (evenly spaced beyond this)
ALPHABET = "ACGT"


@dataclass
class Target:
    """A motif to match against: id, name, source and its (4, L) probabilities."""

    id: str
    name: str
    source: str
    pwm: np.ndarray


def _windows(segments: list[np.ndarray], width: int) -> np.ndarray:
    """(segments, positions x 2 strands, width) every ``width``-mer of every segment on both strands."""
    rows = []
    for codes in segments:
        both = [codes, np.where(codes < N_CODE, 3 - codes, N_CODE)[::-1]]
        rows.append(np.concatenate([np.lib.stride_tricks.sliding_window_view(s, width) for s in both]))
    return np.stack(rows)


def _seed(words: np.ndarray) -> np.ndarray:
    """The forward word that agrees best with every segment (sum of each segment's best match count)."""
    n, per, width = words.shape
    forward = words[:, : per // 2].reshape(-1, width)
    flat = words.reshape(-1, width)
    best_total, best = -1, forward[0]
    for chunk in range(0, len(forward), 64):
        candidates = forward[chunk : chunk + 64]
        matches = ((candidates[:, None, :] == flat[None, :, :]) & (candidates[:, None, :] < N_CODE)).sum(-1)
        totals = matches.reshape(len(candidates), n, per).max(axis=2).sum(axis=1)
        top = int(totals.argmax())
        if totals[top] > best_total:
            best_total, best = int(totals[top]), candidates[top]
    return best


def _count(sites: np.ndarray) -> np.ndarray:
    """(4, width) probabilities of the aligned sites, with a pseudocount; N adds nothing."""
    counts = np.stack([(sites == letter).sum(axis=0) for letter in range(4)]).astype(float) + PSEUDOCOUNT
    return counts / counts.sum(axis=0, keepdims=True)


def _pick(words: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each segment's best-scoring word: (segments, width)."""
    return words[np.arange(len(words)), scores.argmax(axis=1)]


def align_pwm(segments: list[np.ndarray], width: int) -> tuple[np.ndarray, int]:
    """The PWM ((4, width) probabilities) of the segments' aligned sites, and the number of sites."""
    segments = [s for s in segments if len(s) >= width]
    if not segments:
        raise EpizooError(f"no segment is as long as the motif width {width}; lower --motif-width or raise --segment-width")
    if len(segments) > MAX_SITES:
        segments = [segments[i] for i in np.unique(np.linspace(0, len(segments) - 1, MAX_SITES).round().astype(int))]
    words = _windows([s.astype(np.int64) for s in segments], width)
    seed = _seed(words)
    sites = _pick(words, (words == seed).sum(-1))
    for _ in range(REFINE_ROUNDS):
        log_odds = np.log2(_count(sites) / 0.25)
        padded = np.vstack([log_odds, np.zeros((1, width))])  # N scores 0
        scores = padded[words, np.arange(width)].sum(-1)
        sites = _pick(words, scores)
    return _count(sites), len(segments)


def consensus(pwm: np.ndarray) -> str:
    """The most likely letter per column, N where none has half the probability."""
    return "".join(ALPHABET[i] if p >= 0.5 else "N" for i, p in zip(pwm.argmax(axis=0), pwm.max(axis=0)))


def onehot_pwm(word: str) -> np.ndarray:
    """A (4, len) PWM that is certain of every letter of ``word`` (a planted word, a consensus)."""
    pwm = np.zeros((4, len(word)))
    pwm[[ALPHABET.index(c) for c in word.upper()], np.arange(len(word))] = 1.0
    return pwm


# ---- targets ------------------------------------------------------------------------------------
def jaspar_targets(release: str, collection: str = "CORE", tax_group: str | None = "vertebrates") -> list[Target]:
    """Every matrix of a JASPAR release (pyjaspar's bundled SQLite: no network), as probabilities."""
    pyjaspar = require("pyjaspar", "explain")
    jaspar_releases, jaspardb = pyjaspar.jaspar_releases, pyjaspar.jaspardb

    if release not in jaspar_releases:
        raise EpizooError(f"--jaspar-release {release}: pyjaspar has {', '.join(sorted(jaspar_releases))}")
    filters = {"collection": collection, "all_versions": False}
    if tax_group:
        filters["tax_group"] = [tax_group]
    motifs = jaspardb(release=release).fetch_motifs(**filters)
    if not motifs:
        raise EpizooError(f"JASPAR {release} has no {collection} motifs of tax group {tax_group}; check --jaspar-tax-group")
    targets = []
    for motif in motifs:
        counts = np.array([motif.counts[letter] for letter in ALPHABET], dtype=float) + 1e-3
        targets.append(Target(motif.matrix_id, motif.name, release, counts / counts.sum(axis=0, keepdims=True)))
    return targets


def meme_targets(path: str | Path) -> list[Target]:
    """The motifs of a MEME-format file (``MOTIF id [name]`` then a letter-probability matrix)."""
    read_meme = require("memelite.io", "explain").read_meme

    try:
        motifs = read_meme(str(path))
    except (OSError, ValueError, AttributeError, IndexError) as exc:
        raise InputFileError(f"--motifs {path} is not a readable MEME motif file ({type(exc).__name__})") from None
    if not motifs:
        raise InputFileError(f"--motifs {path} holds no MOTIF with a letter-probability matrix")
    targets = []
    for header, pwm in motifs.items():
        words = header.split()
        targets.append(Target(words[0], words[1] if len(words) > 1 else words[0], Path(path).name, np.asarray(pwm, dtype=float)))
    return targets


@dataclass
class Match:
    target: Target
    p_value: float
    q_value: float
    strand: str  # + or -: the target's strand in the best alignment
    offset: int
    significant: bool = True  # q-value at most the threshold: a match; else only the nearest target


MAX_Q = 0.05  # a nearest target above this q-value is reported as "no match", as TOMTOM's own default


def best_matches(queries: list[np.ndarray], targets: list[Target], n_jobs: int = 1, max_q: float = MAX_Q) -> list[dict[str, Match]]:
    """Per query, its nearest TOMTOM target among the JASPAR targets (key ``jaspar``) and among the
    user's (key ``user``), from one comparison with all of them; q-values over all targets of the
    query. A nearest target whose q-value exceeds ``max_q`` is marked not ``significant``: no match."""
    import warnings

    from scipy.stats import false_discovery_control

    tomtom = require("memelite", "explain").tomtom

    if not queries or not targets:
        return [{} for _ in queries]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few targets: docs/explain.md says why JASPAR stays beside user motifs
        p_values, _scores, offsets, _overlaps, strands = tomtom(queries, [t.pwm for t in targets], n_jobs=n_jobs)
    groups = {"jaspar": [], "user": []}
    for i, target in enumerate(targets):
        groups["jaspar" if target.source.startswith("JASPAR") else "user"].append(i)
    found = []
    for row, p_row in enumerate(p_values):
        p_row = np.clip(np.nan_to_num(p_row, nan=1.0), 0.0, 1.0)
        q_row = false_discovery_control(p_row)
        best = {}
        for group, members in groups.items():
            if members:
                i = members[int(p_row[members].argmin())]
                best[group] = Match(targets[i], float(p_row[i]), float(q_row[i]), "-" if strands[row, i] else "+",
                                    int(offsets[row, i]), significant=bool(q_row[i] <= max_q))
        found.append(best)
    return found
