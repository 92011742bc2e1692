"""An offline, seeded enhancer-promoter data set with a planted interaction grammar.

The grammar (documented in ``docs/datasets.md``):

* a random background genome with GC content varying per 10-kb block;
* ``n_classes`` compatible motif pairs: enhancer motif ``A_k`` goes with promoter motif ``B_k``;
* every element carries one motif class, planted 2-3 times within +-150 bp of its centre, so a
  model that sees only a short centred crop still sees it (``motif_position=central``, the
  default; ``fixed`` puts every copy at a fixed offset, the first exactly at the centre, and
  ``anywhere`` spreads the copies over the element's whole model window);
* elements are reused across pairs: ``n_elements`` enhancers and as many promoters are placed
  (by default a number derived from ``n_pairs``), so fewer elements mean more pairs per element;
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
from epizoo.sources.genome import ArrayGenome, LayerSource

DEFAULTS = {
    "n_pairs": 24000,
    "n_contigs": 6,
    "cell_lines": 2,
    "ratio": 5,
    "n_classes": 4,
    "motif_length": 10,
    "label_noise": 0.02,
    # the genome layer (genome=true): bp between CTCF-like sites, expected count of neighbouring 10-kb bins
    "site_spacing": 40_000,
    "contact_depth": 400.0,
    "boundary": 1.0,
    # the difficulty ladder (docs/datasets.md, "Difficulty"): where the copies sit, how many elements
    "motif_position": "central",
    "motif_window": 0,  # bp, anywhere only; 0: the store's default windows (3,000 / 2,000 bp)
    "n_elements": 0,  # enhancers (and as many promoters) over all contigs; 0: derived from n_pairs
}
FLOAT_OPTIONS = ("label_noise", "contact_depth", "boundary")
STRING_OPTIONS = {"motif_position": ("fixed", "central", "anywhere")}
MIN_DISTANCE, MAX_DISTANCE = 10_000, 2_000_000
# log10 distance laws (mean, sd): positives a little closer than negatives.
POSITIVE_LOG_DISTANCE = (4.95, 0.45)
NEGATIVE_LOG_DISTANCE = (5.07, 0.45)
MIN_CONTIG_LENGTH = 3_000_000  # room for 2-Mb pairs
SLOT = 4_000  # bp reserved per element, so elements never overlap
GC_BLOCK = 10_000
PROMOTER_HALF_WIDTH = 500  # promoters are 1-kb intervals centred on the TSS
MOTIF_SPAN = 150  # motifs sit within +-150 bp of the element centre
FIXED_OFFSETS = (0, 100, -100)  # motif_position=fixed: copy k's centre sits this far from the element centre
# motif_position=anywhere with motif_window=0: the model windows a store keeps by default
# (epizoo build-store --enhancer-window / --promoter-window), so the copies land inside them
DEFAULT_WINDOWS = {"enhancer": 3000, "promoter": 2000}
MAX_MOTIF_WINDOW = 10_000
ACTIVITY = 0.75  # chance an element is active in a given cell line
CAPACITY = 0.5  # n_elements must allow twice the distinct pairs drawn (per contig, cell line and label)


class SyntheticOptionError(EpizooError):
    """A synthetic option has a bad value."""


def options_of(request: DatasetRequest) -> dict[str, float]:
    """Defaults overlaid with the request's options (strings from the CLI become numbers)."""
    merged = dict(DEFAULTS)
    for key, value in request.options.items():
        if key == "seed" or key in BOOL_OPTIONS:
            continue
        if key not in DEFAULTS:
            raise SyntheticOptionError(
                f"unknown synthetic option {key!r}; valid options: {', '.join([*DEFAULTS, 'seed', *BOOL_OPTIONS])}"
            )
        if key in STRING_OPTIONS:
            choices = STRING_OPTIONS[key]
            if str(value).strip().lower() not in choices:
                raise SyntheticOptionError(f"synthetic option {key}={value!r} must be one of: {', '.join(choices)}")
            merged[key] = str(value).strip().lower()
            continue
        kind, noun = (float, "a number") if key in FLOAT_OPTIONS else (int, "an integer")
        try:
            merged[key] = kind(value)
        except (TypeError, ValueError):
            raise SyntheticOptionError(f"synthetic option {key}={value!r} must be {noun}") from None
    minimum = {"n_pairs": 2, "n_contigs": 1, "cell_lines": 1, "ratio": 1, "n_classes": 2, "motif_length": 6, "site_spacing": 1_000,
               "contact_depth": 1e-3}
    for key, low in minimum.items():
        if merged[key] < low:
            raise SyntheticOptionError(f"synthetic option {key}={merged[key]} must be at least {low}")
    if merged["motif_length"] > 30:
        raise SyntheticOptionError("synthetic option motif_length must be at most 30 (3 copies fit in 300 bp)")
    if not 0 < merged["boundary"] <= 1:
        raise SyntheticOptionError(f"synthetic option boundary={merged['boundary']} must be above 0 and at most 1 (1: no insulation)")
    if not 0 <= merged["label_noise"] < 0.5:
        raise SyntheticOptionError(f"synthetic option label_noise={merged['label_noise']} must be from 0 to below 0.5 (a fraction)")
    _check_ladder(merged)
    return merged


def _check_ladder(merged: dict) -> None:
    """The difficulty options: a window only where copies may go anywhere, and enough elements for the pairs."""
    window = merged["motif_window"]
    if window and merged["motif_position"] != "anywhere":
        raise SyntheticOptionError(
            f"synthetic option motif_window applies to motif_position=anywhere only (here motif_position={merged['motif_position']})"
        )
    if window and not 2 * MOTIF_SPAN <= window <= MAX_MOTIF_WINDOW:
        raise SyntheticOptionError(
            f"synthetic option motif_window={window} must be from {2 * MOTIF_SPAN} to {MAX_MOTIF_WINDOW:,} bp (0: the store's default windows)"
        )
    if window < 0:
        raise SyntheticOptionError(f"synthetic option motif_window={window} must be 0 (the store's default windows) or a window in bp")
    n_elements = merged["n_elements"]
    if n_elements < 0:
        raise SyntheticOptionError(f"synthetic option n_elements={n_elements} must be at least 1 (0: derived from n_pairs)")
    if not n_elements:
        return
    # each contig and cell line draws its pairs from its active elements; a pair is drawn at most once
    per_contig = n_elements // merged["n_contigs"]
    active = ACTIVITY * per_contig
    positives = merged["n_pairs"] / (merged["ratio"] + 1) / merged["n_contigs"] / merged["cell_lines"]
    compatible = active * active / merged["n_classes"]
    incompatible = active * active - compatible
    if per_contig < 2 or positives > CAPACITY * compatible or merged["ratio"] * positives > CAPACITY * incompatible:
        needed = max(2, int(np.ceil(np.sqrt(max(positives * merged["n_classes"], merged["ratio"] * positives * merged["n_classes"]
                                                    / (merged["n_classes"] - 1)) / CAPACITY) / ACTIVITY)))
        raise SyntheticOptionError(
            f"synthetic option n_elements={n_elements} is too few for n_pairs={merged['n_pairs']}: {merged['n_contigs']} contig(s) need "
            f"at least {needed * merged['n_contigs']:,} enhancers (and as many promoters) to draw the pairs, each once; raise n_elements or lower n_pairs"
        )


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


def plant(rng: np.random.Generator, codes: np.ndarray, centre: int, motif: np.ndarray, position: str = "central",
          window: int = 0, place_rng: np.random.Generator | None = None) -> None:
    """Write ``motif`` 2-3 times around ``centre``: ``central``, into separate thirds of the +-150 bp;
    ``fixed``, centred at ``FIXED_OFFSETS`` (the first exactly at ``centre``); ``anywhere``, into
    separate thirds of the centred ``window``.

    ``rng`` makes the same draws at every position (so the rest of the data set does not change
    with it); ``fixed`` and ``anywhere`` draw their own offsets from ``place_rng``.
    """
    third = 2 * MOTIF_SPAN // 3
    parts = np.sort(rng.choice(3, size=rng.integers(2, 4), replace=False))
    for k, part in enumerate(parts):
        at = centre - MOTIF_SPAN + part * third + rng.integers(0, third - len(motif) + 1)
        if position == "fixed":
            at = centre + FIXED_OFFSETS[k] - len(motif) // 2
        elif position == "anywhere":
            wide = window // 3
            at = centre - window // 2 + part * wide + place_rng.integers(0, wide - len(motif) + 1)
        codes[at : at + len(motif)] = motif


def motif_windows(opts: dict) -> dict[str, int]:
    """The centred window (bp) the copies are planted in, per element kind."""
    if opts["motif_position"] == "anywhere":
        return {kind: int(opts["motif_window"]) or size for kind, size in DEFAULT_WINDOWS.items()}
    if opts["motif_position"] == "fixed":
        return {kind: 2 * max(abs(o) for o in FIXED_OFFSETS) + opts["motif_length"] for kind in DEFAULT_WINDOWS}
    return {kind: 2 * MOTIF_SPAN for kind in DEFAULT_WINDOWS}


def elements_per_contig(opts: dict) -> list[int]:
    """Enhancers (and as many promoters) per contig: ``n_elements`` spread evenly, or derived from ``n_pairs``."""
    n_contigs = opts["n_contigs"]
    if opts["n_elements"]:
        base, extra = divmod(int(opts["n_elements"]), n_contigs)
        return [base + (i < extra) for i in range(n_contigs)]
    return [max(150, -(-opts["n_pairs"] // (8 * n_contigs)))] * n_contigs


def slot_of(opts: dict) -> int:
    """bp reserved per element: ``SLOT``, or wider where copies spread over windows wider than half a slot, so
    that no element's window holds a neighbour's copies (neighbouring centres are at least 0.85 slot / 2 apart)."""
    widest = max(motif_windows(opts).values())
    return max(SLOT, int(np.ceil(2 * widest / 0.85)))


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
    from epizoo.metrics import auroc  # lazy: imports sklearn

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
    position, windows, slot = opts["motif_position"], motif_windows(opts), slot_of(opts)
    place_rng = np.random.default_rng([seed, 8])  # the offsets of fixed-free positions (anywhere)
    genome: dict[str, np.ndarray] = {}
    tables = []
    for contig, per_contig in zip(contig_names(opts["n_contigs"]), elements_per_contig(opts)):
        length = int(max(MIN_CONTIG_LENGTH, 2 * per_contig * slot) * rng.uniform(0.85, 1.15))
        codes = background(rng, length)
        elements = place_elements(rng, contig, per_contig, per_contig, length)
        elements["motif_class"] = rng.integers(0, opts["n_classes"], len(elements))
        for centre, kind, motif_class in elements[["centre", "kind", "motif_class"]].itertuples(index=False):
            plant(rng, codes, centre, motif_codes[kind][motif_class], position, windows[kind], place_rng)
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
    """The synthetic data set: pairs, and its own genome as an ``epizoo.sources.genome.ArrayGenome``."""
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
        "motif_position": opts["motif_position"],
        "motif_window": motif_windows(opts),
        "n_elements": int(sum(elements_per_contig(opts))),
        "oracle_auroc": round(oracle_auroc(table, compatible), 4),
    }
    loaded = LoadedDataset(pairs, "synthetic", variant="", sequence=_as_sequence(genome, seed_of(request)), report=report)
    if genome_option(request):  # the genome layer's sites are planted into the genome the pairs are cut from
        loaded.genome_layer = SyntheticGenomeLayer(genome, elements, cell_line_names(request, opts["cell_lines"]), seed_of(request),
                                                   site_spacing=int(opts["site_spacing"]), contact_depth=float(opts["contact_depth"]),
                                                   boundary=float(opts["boundary"]))
        loaded.sequence = loaded.genome_layer.sequence
    return loaded


def _as_sequence(genome: dict[str, np.ndarray], seed: int):
    return ArrayGenome(genome, name=f"synthetic-seed{seed}")


# ---- the genome layer (``--option genome=true``) ----------------------------------------------------
# The rule (docs/datasets.md, "The genome layer"): CTCF-like sites with an orientation sit between the
# elements; some are bound in every cell line, the others in one cell line only. A CTCF-like track peaks
# at the bound sites, an ATAC-like track at the elements active in the cell line and (lower) at the bound
# sites, both over smooth noise. Contact maps are Poisson counts around a power-law decay with distance,
# raised at pairs of bound sites in convergent orientation (forward, then reverse) by a factor that
# decays with their distance; so the tracks predict where one cell line's map differs from another's.

BOOL_OPTIONS = ("genome",)
CTCF_MOTIF = "TGGCCACCAGGGGGCGCTA"  # a CTCF-like 19-mer (forward strand)
SITE_SPACING = DEFAULTS["site_spacing"]  # one CTCF-like site per 40 kb on average (at most one per gap between elements)
SHARED_SITES = 0.6  # bound in every cell line; the others in one cell line only
CONTACT_DEPTH = DEFAULTS["contact_depth"]  # expected count of two neighbouring 10-kb bins
DECAY_EXPONENT = 1.0  # expected contacts ~ (distance in bins + 1) ** -DECAY_EXPONENT
LOOP_GAIN, LOOP_SCALE = 4.0, 400_000  # a convergent pair multiplies its bin by 1 + 4 exp(-d / 400 kb)
NOISE_STEP, TILE = 25, 1 << 16  # track noise is constant over 25 bp (pile-up smoothness); seeded per 64-kb tile
TRACK_PEAKS = {  # mark: (peaks at, width sd in bp, height scale)
    "CTCF": [("sites", 60, 1.0)],
    "ATAC": [("elements", 150, 1.0), ("sites", 150, 0.4)],
}


def genome_option(request: DatasetRequest) -> bool:
    """``--option genome=true``: also build the genome layer (accepts true/false, yes/no, 1/0)."""
    value = str(request.options.get("genome", "false")).strip().lower()
    if value not in {"true", "false", "yes", "no", "1", "0"}:
        raise SyntheticOptionError(f"synthetic option genome={value!r} must be true or false")
    return value in {"true", "yes", "1"}


class SyntheticGenomeLayer(LayerSource):
    """The synthetic genome layer, generated on demand from the pair genome and its elements."""

    matrix = "raw"

    def __init__(self, genome: dict[str, np.ndarray], elements: pd.DataFrame, cells: list[str], seed: int,
                 site_spacing: int = SITE_SPACING, contact_depth: float = CONTACT_DEPTH, boundary: float = 1.0):
        self.seed, self.cells = seed, list(cells)
        self.site_spacing, self.contact_depth, self.boundary = site_spacing, contact_depth, boundary
        rng = np.random.default_rng([seed, 10])
        self.genome = {name: codes.copy() for name, codes in genome.items()}
        self.sites = self._sites(rng, elements)
        self._plant_sites()
        self.elements = elements.assign(**{f"open_{c}": rng.random(len(elements)) < ACTIVITY for c in self.cells})
        self.sequence = ArrayGenome(self.genome, name=f"synthetic-genome-seed{seed}")
        self.contigs = {name: len(codes) for name, codes in self.genome.items()}
        self.tracks = [(cell, mark) for cell in self.cells for mark in TRACK_PEAKS]
        self.contact_cells = list(self.cells)
        self._heights = {"sites": self.sites["height"].to_numpy(), "elements": rng.uniform(10, 30, len(elements))}
        self._bands: dict = {}

    def _sites(self, rng, elements: pd.DataFrame) -> pd.DataFrame:
        """Sites midway between neighbouring elements, each with a strand and the cell lines that bind it."""
        tables = []
        for contig, group in elements.sort_values("start").groupby("contig", sort=False):
            gaps = np.flatnonzero(group["start"].to_numpy()[1:] - group["end"].to_numpy()[:-1] > 100)
            middles = (group["end"].to_numpy()[gaps] + group["start"].to_numpy()[gaps + 1]) // 2
            n = min(len(middles), max(2, len(self.genome[contig]) // self.site_spacing))
            tables.append(pd.DataFrame({"contig": contig, "position": np.sort(rng.choice(middles, n, replace=False))}))
        sites = pd.concat(tables, ignore_index=True)
        sites["strand"] = rng.choice(["+", "-"], len(sites))
        sites["height"] = rng.uniform(30, 60, len(sites))
        shared = rng.random(len(sites)) < SHARED_SITES
        owner = rng.integers(0, len(self.cells), len(sites))
        for i, cell in enumerate(self.cells):
            sites[f"bound_{cell}"] = shared | (owner == i)
        return sites

    def _plant_sites(self) -> None:
        forward = sequence.encode(CTCF_MOTIF)
        reverse = (3 - forward[::-1]).astype(np.int8)
        half = len(CTCF_MOTIF) // 2
        for contig, position, strand in self.sites[["contig", "position", "strand"]].itertuples(index=False):
            self.genome[contig][position - half : position - half + len(forward)] = forward if strand == "+" else reverse

    # tracks --------------------------------------------------------------------------------------
    def _noise(self, cell: str, mark: str, contig: str, start: int, end: int) -> np.ndarray:
        keys = (self.cells.index(cell), list(TRACK_PEAKS).index(mark), list(self.contigs).index(contig))
        tiles = []
        for tile in range(start // TILE, -(-end // TILE)):
            rng = np.random.default_rng([self.seed, 11, *keys, tile])
            tiles.append(np.repeat(rng.lognormal(0.0, 0.4, TILE // NOISE_STEP).astype(np.float32), NOISE_STEP))
        first = (start // TILE) * TILE
        return np.concatenate(tiles)[start - first : end - first]

    def track_values(self, cell, mark, contig, start, end):
        values = self._noise(cell, mark, contig, start, end)
        for table_name, sd, scale in TRACK_PEAKS[mark]:
            table = self.sites if table_name == "sites" else self.elements
            centres = table["position" if table_name == "sites" else "centre"].to_numpy()
            keep = (table["contig"] == contig).to_numpy() & table[f"{'bound' if table_name == 'sites' else 'open'}_{cell}"].to_numpy()
            keep &= (centres > start - 5 * sd) & (centres < end + 5 * sd)
            for centre, height in zip(centres[keep], self._heights[table_name][keep] * scale):
                lo, hi = max(start, int(centre) - 5 * sd), min(end, int(centre) + 5 * sd)
                x = np.arange(lo, hi) - centre
                values[lo - start : hi - start] += (height * np.exp(-0.5 * (x / sd) ** 2)).astype(np.float32)
        return values

    # contacts ------------------------------------------------------------------------------------
    def expected_band(self, cell: str, contig: str, bin_size: int, diagonals: int) -> np.ndarray:
        """Expected counts ``[i, d]`` of bins i and i + d: the decay, raised at convergent bound site pairs."""
        n_bins = -(-self.contigs[contig] // bin_size)
        distance = np.arange(diagonals, dtype=np.float64)
        scale = self.contact_depth * (bin_size / 10_000) ** 2
        band = np.tile(scale * (distance + 1.0) ** -DECAY_EXPONENT, (n_bins, 1))
        sites = self.sites[(self.sites["contig"] == contig) & self.sites[f"bound_{cell}"]]
        forward = sites.loc[sites["strand"] == "+", "position"].to_numpy()
        reverse = sites.loc[sites["strand"] == "-", "position"].to_numpy()
        left, right = np.meshgrid(forward, reverse, indexing="ij")
        pairs = (right > left) & ((right // bin_size - left // bin_size) < diagonals)
        i, d = left[pairs] // bin_size, right[pairs] // bin_size - left[pairs] // bin_size
        gain = LOOP_GAIN * np.exp(-(right[pairs] - left[pairs]) / LOOP_SCALE)
        np.add.at(band, (i, d), band[i, d] * gain)
        if self.boundary < 1.0:  # each bound site between two bins insulates them: a factor per site crossed
            crossed = np.concatenate([[0], np.cumsum(np.bincount(sites["position"].to_numpy() // bin_size, minlength=n_bins + diagonals))])
            bins = np.arange(n_bins)[:, None]
            band *= self.boundary ** (crossed[bins + distance[None, :].astype(int)] - crossed[bins])
        return band

    def contact_band(self, cell, contig, lo, hi, settings):
        key = (cell, contig, settings.bin_size, settings.diagonals)
        if key not in self._bands:
            expected = self.expected_band(cell, contig, settings.bin_size, settings.diagonals)
            rng = np.random.default_rng([self.seed, 13, self.cells.index(cell), list(self.contigs).index(contig), settings.bin_size])
            self._bands = {key: rng.poisson(expected).astype(np.float32)}  # one map held at a time
        return self._bands[key][lo:hi].copy()

    def provenance(self) -> dict:
        rule = {"file": f"synthetic rule, seed {self.seed}", "sha256": ""}
        return {
            "tracks": [{"cell_line": c, "mark": m, **rule} for c, m in self.tracks],
            "contacts": [{"cell_line": c, **rule} for c in self.contact_cells],
        }
