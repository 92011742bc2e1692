"""An offline, seeded enhancer-promoter data set with a planted interaction grammar.

The grammar (documented in ``docs/datasets.md``):

* a random background genome with GC content varying per 10-kb block;
* ``n_classes`` compatible motif pairs: enhancer motif ``A_k`` goes with promoter motif ``B_k``;
* every element carries one motif class, planted 2-3 times within +-150 bp of its centre, so a
  model that sees only a short centred crop still sees it;
* a pair is positive when the enhancer's class equals the promoter's class and negative when
  they differ, so neither element alone predicts the label;
* label noise: a fraction ``label_noise`` (default 2 %) of positives is drawn from incompatible
  promoters and the same fraction of negatives from compatible ones, like the unexplained
  contacts of real data; the build reports the *oracle AUROC*, what a model that knows the
  grammar and the distance laws reaches (about 1 - label_noise);
* pair distances follow a log-normal law between 10 kb and 2 Mb, positives somewhat closer than
  negatives, so distance alone carries a weak signal (AUROC about 0.55).

The defaults (24,000 pairs at 1:5, six contigs, two cell lines) give every leave-one-chromosome-out
fold at least 1,000 training positives per cell line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epizoo import sequence
from epizoo.datasets.base import DatasetRequest, LoadedDataset, normalise_pair_table
from epizoo.errors import EpizooError

DEFAULTS = {
    "n_pairs": 24000,
    "n_contigs": 6,
    "cell_lines": 2,
    "ratio": 5,
    "n_classes": 4,
    "motif_length": 10,
    "label_noise": 0.02,
}
FLOAT_OPTIONS = ("label_noise",)
MIN_DISTANCE, MAX_DISTANCE = 10_000, 2_000_000
# log10 distance laws (mean, sd): positives a little closer than negatives.
POSITIVE_LOG_DISTANCE = (4.95, 0.45)
NEGATIVE_LOG_DISTANCE = (5.07, 0.45)
MIN_CONTIG_LENGTH = 3_000_000  # room for 2-Mb pairs
SLOT = 4_000  # bp reserved per element, so elements never overlap
GC_BLOCK = 10_000
PROMOTER_HALF_WIDTH = 500  # promoters are 1-kb intervals centred on the TSS
MOTIF_SPAN = 150  # motifs sit within +-150 bp of the element centre
ACTIVITY = 0.75  # chance an element is active in a given cell line


class SyntheticOptionError(EpizooError):
    """A synthetic option has a bad value."""


def options_of(request: DatasetRequest) -> dict[str, float]:
    """Defaults overlaid with the request's options (strings from the CLI become numbers)."""
    merged = dict(DEFAULTS)
    for key, value in request.options.items():
        if key == "seed":
            continue
        if key not in DEFAULTS:
            raise SyntheticOptionError(
                f"unknown synthetic option {key!r}; valid options: {', '.join([*DEFAULTS, 'seed'])}"
            )
        kind, noun = (float, "a number") if key in FLOAT_OPTIONS else (int, "an integer")
        try:
            merged[key] = kind(value)
        except (TypeError, ValueError):
            raise SyntheticOptionError(f"synthetic option {key}={value!r} must be {noun}") from None
    minimum = {"n_pairs": 2, "n_contigs": 1, "cell_lines": 1, "ratio": 1, "n_classes": 2, "motif_length": 6}
    for key, low in minimum.items():
        if merged[key] < low:
            raise SyntheticOptionError(f"synthetic option {key}={merged[key]} must be at least {low}")
    if merged["motif_length"] > 30:
        raise SyntheticOptionError("synthetic option motif_length must be at most 30 (3 copies fit in 300 bp)")
    if not 0 <= merged["label_noise"] < 0.5:
        raise SyntheticOptionError(f"synthetic option label_noise={merged['label_noise']} must be from 0 to below 0.5 (a fraction)")
    return merged


def seed_of(request: DatasetRequest) -> int:
    return int(request.options.get("seed", request.seed))


def contig_names(n_contigs: int) -> list[str]:
    """``chr1 .. chr(n-1)`` and ``chrX`` (just ``chr1`` for one contig)."""
    if n_contigs == 1:
        return ["chr1"]
    return [f"chr{i}" for i in range(1, n_contigs)] + ["chrX"]


def cell_line_names(request: DatasetRequest, count: int) -> list[str]:
    if request.cell_lines:
        return list(request.cell_lines)
    return [f"SYN-{chr(ord('A') + i)}" if i < 26 else f"SYN-{i}" for i in range(count)]


def planted_motifs(seed: int = 0, n_classes: int = 4, motif_length: int = 10) -> tuple[list[str], list[str]]:
    """The enhancer motifs ``A_k`` and promoter motifs ``B_k`` planted for ``seed`` (all distinct)."""
    rng = np.random.default_rng([seed, 7])
    motifs: list[str] = []
    while len(motifs) < 2 * n_classes:
        candidate = "".join(rng.choice(list("ACGT"), size=motif_length))
        if candidate not in motifs:
            motifs.append(candidate)
    return motifs[:n_classes], motifs[n_classes:]


def background(rng: np.random.Generator, length: int) -> np.ndarray:
    """Random int8 codes whose GC fraction varies per block between 35 % and 60 %."""
    n_blocks = -(-length // GC_BLOCK)
    gc = np.repeat(rng.uniform(0.35, 0.60, n_blocks), GC_BLOCK)[:length]
    strong = rng.random(length, dtype=np.float32) < gc
    coin = rng.integers(0, 2, length, dtype=np.int8)
    return np.where(strong, 1 + coin, 3 * coin).astype(np.int8)  # C/G = 1/2, A/T = 0/3


def place_elements(rng: np.random.Generator, contig: str, n_enhancers: int, n_promoters: int, length: int) -> pd.DataFrame:
    """Non-overlapping elements, one per ``length / n`` slot, in a random enhancer/promoter order."""
    n = n_enhancers + n_promoters
    slot = length // n
    kinds = rng.permutation(np.repeat(["enhancer", "promoter"], [n_enhancers, n_promoters]))
    centres = np.arange(n) * slot + slot // 2 + rng.integers(-(slot // 4), slot // 4 + 1, n)
    half = np.where(kinds == "enhancer", rng.integers(250, 751, n), PROMOTER_HALF_WIDTH)
    return pd.DataFrame(
        {
            "contig": contig,
            "kind": kinds,
            "start": centres - half,
            "end": centres + half,
            "centre": centres,
            "strand": rng.choice(["+", "-"], n),
        }
    )


def plant(rng: np.random.Generator, codes: np.ndarray, centre: int, motif: np.ndarray) -> None:
    """Write ``motif`` 2-3 times into separate thirds of the +-150 bp around ``centre``."""
    third = 2 * MOTIF_SPAN // 3
    for part in np.sort(rng.choice(3, size=rng.integers(2, 4), replace=False)):
        at = centre - MOTIF_SPAN + part * third + rng.integers(0, third - len(motif) + 1)
        codes[at : at + len(motif)] = motif


def log_normal_weights(distances: np.ndarray, law: tuple[float, float]) -> np.ndarray:
    """Sampling weights that turn uniformly placed candidates into the log-normal ``law``.

    Candidates at distance d are about d times denser per unit of log distance, hence ``/ d``.
    """
    mean, sd = law
    z = (np.log10(distances) - mean) / sd
    inside = (distances >= MIN_DISTANCE) & (distances <= MAX_DISTANCE)
    return np.where(inside, np.exp(-0.5 * z * z) / distances, 0.0)


def draw_partners(rng, centre: int, candidate_centres: np.ndarray, n: int, law) -> np.ndarray:
    """Positions in ``candidate_centres`` (promoter TSSs) for ``n`` distance-weighted pairs."""
    if n == 0 or len(candidate_centres) == 0:
        return np.empty(0, dtype=int)
    weights = log_normal_weights(np.abs(candidate_centres - centre), law)
    usable = int(np.count_nonzero(weights))
    if usable == 0:
        return np.empty(0, dtype=int)
    return rng.choice(len(candidate_centres), size=min(n, usable), replace=False, p=weights / weights.sum())


def _draws(rng, n_positives: int, n_negatives: int, noise: float) -> tuple[tuple, tuple]:
    """What one enhancer draws from its compatible and from its incompatible promoters.

    Each is a list of (label, count, distance law); the noisy share of each label comes from
    the promoters of the other kind.
    """
    noisy_pos, noisy_neg = rng.binomial(n_positives, noise), rng.binomial(n_negatives, noise)
    compatible = ((1, n_positives - noisy_pos, POSITIVE_LOG_DISTANCE), (0, noisy_neg, NEGATIVE_LOG_DISTANCE))
    incompatible = ((0, n_negatives - noisy_neg, NEGATIVE_LOG_DISTANCE), (1, noisy_pos, POSITIVE_LOG_DISTANCE))
    return compatible, incompatible


def sample_pairs(rng, enhancers, promoters, n_positives, ratio, noise=0.0) -> tuple[list[tuple[int, int, int]], int]:
    """(enhancer row, promoter row, label) triples for one cell line on one contig, and the shortfall.

    A promoter is drawn at most once per enhancer, so no pair is stored twice or with both labels.
    """
    if enhancers.empty or promoters.empty:
        return [], n_positives * (ratio + 1)
    uniform = np.full(len(enhancers), 1 / len(enhancers))
    per_enhancer = zip(rng.multinomial(n_positives, uniform), rng.multinomial(n_positives * ratio, uniform))
    promoter_rows, promoter_centres = promoters.index.to_numpy(), promoters["centre"].to_numpy()
    promoter_classes = promoters["motif_class"].to_numpy()
    pairs, shortfall = [], 0
    for row, centre, motif_class, (n_pos, n_neg) in zip(
        enhancers.index, enhancers["centre"].to_numpy(), enhancers["motif_class"].to_numpy(), per_enhancer
    ):
        compatible = promoter_classes == motif_class
        for mask, draws in zip((compatible, ~compatible), _draws(rng, n_pos, n_neg, noise)):
            free = mask.copy()
            for label, wanted, law in draws:
                candidates = np.flatnonzero(free)
                picks = candidates[draw_partners(rng, centre, promoter_centres[candidates], wanted, law)]
                free[picks] = False
                shortfall += wanted - len(picks)
                pairs.extend((row, p, label) for p in promoter_rows[picks])
    return pairs, shortfall


def oracle_auroc(table: pd.DataFrame, compatible: np.ndarray) -> float:
    """The AUROC of the grammar itself: compatible classes first, then the distance likelihood ratio.

    This is the ceiling of the data set: label noise is what no model can explain.
    """
    from epizoo.metrics import auroc

    enhancer = (table["enhancer_start"] + table["enhancer_end"]) // 2
    promoter = (table["promoter_start"] + table["promoter_end"]) // 2
    log_distance = np.log10(np.abs(enhancer - promoter).to_numpy(float))
    (mp, sp), (mn, sn) = POSITIVE_LOG_DISTANCE, NEGATIVE_LOG_DISTANCE
    ratio = -0.5 * ((log_distance - mp) / sp) ** 2 + 0.5 * ((log_distance - mn) / sn) ** 2 - np.log(sp / sn)
    score = 1000.0 * compatible + ratio  # the ratio only orders pairs of equal compatibility
    return float(auroc(table["label"].to_numpy(), score))


def simulate_genome(request: DatasetRequest) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, int]]:
    """The genome (contig -> int8 codes), the element table (with motif classes) and the options used."""
    opts = options_of(request)
    seed = seed_of(request)
    rng = np.random.default_rng(seed)
    enhancer_motifs, promoter_motifs = planted_motifs(seed, opts["n_classes"], opts["motif_length"])
    motif_codes = {
        "enhancer": [sequence.encode(m) for m in enhancer_motifs],
        "promoter": [sequence.encode(m) for m in promoter_motifs],
    }
    per_contig = max(150, -(-opts["n_pairs"] // (8 * opts["n_contigs"])))
    genome: dict[str, np.ndarray] = {}
    tables = []
    for contig in contig_names(opts["n_contigs"]):
        length = int(max(MIN_CONTIG_LENGTH, 2 * per_contig * SLOT) * rng.uniform(0.85, 1.15))
        codes = background(rng, length)
        elements = place_elements(rng, contig, per_contig, per_contig, length)
        elements["motif_class"] = rng.integers(0, opts["n_classes"], len(elements))
        for centre, kind, motif_class in elements[["centre", "kind", "motif_class"]].itertuples(index=False):
            plant(rng, codes, centre, motif_codes[kind][motif_class])
        genome[contig] = codes
        tables.append(elements)
    elements = pd.concat(tables, ignore_index=True)
    return genome, elements, opts


def pair_table(request: DatasetRequest, elements: pd.DataFrame, opts: dict[str, float]) -> tuple[pd.DataFrame, int, np.ndarray]:
    """Pairs for every cell line and contig (positives split over them in proportion to size), the
    shortfall, and whether each pair's classes are compatible."""
    rng = np.random.default_rng([seed_of(request), 1])
    cells = cell_line_names(request, opts["cell_lines"])
    contigs = list(dict.fromkeys(elements["contig"]))
    n_positives = max(1, round(opts["n_pairs"] / (opts["ratio"] + 1)))
    sizes = elements.groupby("contig", sort=False).size().reindex(contigs).to_numpy(float)
    shares = rng.multinomial(n_positives, np.tile(sizes / sizes.sum() / len(cells), len(cells)))
    triples, shortfall = [], 0
    for (cell, contig), n_pos in zip(((c, k) for c in cells for k in contigs), shares):
        active = elements[(elements["contig"] == contig) & (rng.random(len(elements)) < ACTIVITY)]
        found, short = sample_pairs(
            rng, active[active["kind"] == "enhancer"], active[active["kind"] == "promoter"], int(n_pos), opts["ratio"],
            opts["label_noise"],
        )
        triples.extend((cell, *t) for t in found)
        shortfall += short
    cell, e_row, p_row, label = (np.array(col) for col in zip(*triples))
    enhancers, promoters = elements.loc[e_row], elements.loc[p_row]
    table = pd.DataFrame(
        {
            "enhancer_contig": enhancers["contig"].to_numpy(),
            "enhancer_start": enhancers["start"].to_numpy(),
            "enhancer_end": enhancers["end"].to_numpy(),
            "enhancer_name": [f"syn-e{i}" for i in e_row],
            "promoter_contig": promoters["contig"].to_numpy(),
            "promoter_start": promoters["start"].to_numpy(),
            "promoter_end": promoters["end"].to_numpy(),
            "promoter_name": [f"syn-p{i}" for i in p_row],
            "promoter_strand": promoters["strand"].to_numpy(),
            "cell_line": cell,
            "label": label,
            "source": "synthetic",
        }
    )
    compatible = enhancers["motif_class"].to_numpy() == promoters["motif_class"].to_numpy()
    return table, shortfall, compatible


def simulate(request: DatasetRequest | None = None) -> LoadedDataset:
    """The synthetic data set: pairs, and its own genome as an ``epizoo.genome.ArrayGenome``."""
    request = request or DatasetRequest()
    genome, elements, opts = simulate_genome(request)
    table, shortfall, compatible = pair_table(request, elements, opts)
    pairs = normalise_pair_table(table, "synthetic pair table")
    report = {
        "pairs": len(pairs),
        "positives": int(pairs["label"].sum()),
        "negatives": int((pairs["label"] == 0).sum()),
        "shortfall": int(shortfall),
        "label_noise": opts["label_noise"],
        "oracle_auroc": round(oracle_auroc(table, compatible), 4),
    }
    return LoadedDataset(pairs, "synthetic", variant="", sequence=_as_sequence(genome, seed_of(request)), report=report)


def _as_sequence(genome: dict[str, np.ndarray], seed: int):
    from epizoo.genome import ArrayGenome

    return ArrayGenome(genome, name=f"synthetic-seed{seed}")
