"""Non-deep baselines every model must beat: genomic distance alone, and k-mer composition alone.

Both are ``kind="sklearn"``: ``features(enhancer_codes, promoter_codes, distance)`` turns numpy
int8 code windows ``(B, L)`` and distances ``(B,)`` into a feature matrix, and ``factory`` returns
an unfitted scikit-learn estimator. A distance is a non-negative number of bp, or
:data:`epizoo.coords.TRANS_DISTANCE` (-1) for a pair across contigs, which has none.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from epizoo.coords import TRANS_DISTANCE
from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

K = 4
# The log distance given to a trans pair by the distance baseline: 9 = log10(1 Gb + 1), farther than
# any two points of one contig (the longest human chromosome is 249 Mb, 8.4). Its own column
# (is_trans) lets the fit give trans pairs their own rate whenever training has some.
TRANS_LOG_DISTANCE = 9.0
ROWS_PER_CHUNK = 2048  # bounds the memory of the k-mer id arrays on large training sets


def _check_inputs(enhancer_codes, promoter_codes, distance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    enhancer_codes, promoter_codes = np.asarray(enhancer_codes), np.asarray(promoter_codes)
    distance = np.asarray(distance, dtype=np.float64).reshape(-1)
    if enhancer_codes.ndim != 2 or promoter_codes.ndim != 2:
        raise EpizooError("baseline features need 2-D code arrays (pairs, length); pass one window per pair")
    if not len(enhancer_codes) == len(promoter_codes) == len(distance):
        raise EpizooError(
            f"baseline features got {len(enhancer_codes)} enhancers, {len(promoter_codes)} promoters and "
            f"{len(distance)} distances; pass one of each per pair"
        )
    if not np.isfinite(distance).all():
        raise EpizooError("distance has missing or infinite values; fill in every pair's distance in bp")
    if ((distance < 0) & (distance != TRANS_DISTANCE)).any():
        raise EpizooError(
            f"distance has negative values other than {TRANS_DISTANCE}; give distances as bp >= 0, "
            f"and {TRANS_DISTANCE} for a pair across contigs"
        )
    return enhancer_codes, promoter_codes, distance


# ---------------------------------------------------------------- distance


def distance_features(enhancer_codes, promoter_codes, distance) -> np.ndarray:
    """Two columns: log10(distance + 1), as contact probability decays roughly as a power of distance,
    and is_trans (1 for a pair across contigs, else 0).

    A trans pair has no distance: its log distance is :data:`TRANS_LOG_DISTANCE`, farther than any
    pair on one contig, and its is_trans column is 1. So a model fitted without trans pairs ranks
    them as the farthest pairs, and one fitted with some learns their rate from is_trans.
    """
    _, _, distance = _check_inputs(enhancer_codes, promoter_codes, distance)
    trans = distance == TRANS_DISTANCE
    log_distance = np.where(trans, TRANS_LOG_DISTANCE, np.log10(np.where(trans, 0.0, distance) + 1.0))
    return np.column_stack([log_distance, trans.astype(np.float64)])


def distance_model(C: float = 1.0, **window_lengths) -> object:
    """Standardised logistic regression on log distance (the window lengths are not used)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C))


DISTANCE_SPEC = ModelSpec(
    name="distance",
    aliases=("distance-baseline",),
    kind="sklearn",
    input_encoding="",
    inputs=(),  # distance only: it runs on stores of sequence, of signals, or both
    factory=distance_model,
    features=distance_features,
    card=ModelCard(
        title="Distance baseline: logistic regression on log10 enhancer-promoter distance",
        authors="epizoo",
        citation=(
            "A floor for every table, after Mao W, Kostka D, Chikina M. The perils of interaction "
            "prediction. bioRxiv 435065 (2018). doi:10.1101/435065"
        ),
        licence="MIT",
        notes=(
            "Contact frequency falls with genomic distance, so distance alone separates pairs in any data "
            "set whose negatives are not distance-matched (e.g. BENGI, whose candidates are every TSS "
            "within a distance cut-off). TargetFinder draws negatives within the positives' distance "
            "bins, so there this baseline should sit near AUROC 0.5: a check that matching worked. A "
            "sequence model that does not beat it has learnt nothing beyond distance. Features: "
            "log10(distance + 1) and is_trans, standardised; scikit-learn LogisticRegression (L2, C=1). "
            "A pair across contigs (trans; stored distance -1) has no distance: it gets is_trans = 1 and "
            "a log distance of 9 (1 Gb, farther than any pair on one contig), so it is never taken for "
            "the closest pair; with trans pairs in training, is_trans gives them their own rate."
        ),
    ),
    recipe=TrainingRecipe(
        epochs=1,
        augmentation_shifts=0,
        validation_fraction=0.0,
        notes="Fit once on the un-augmented training side; shifted copies would repeat the same distance.",
    ),
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={"C": 1.0},
)


# ---------------------------------------------------------------- k-mer composition


def _canonical_columns(k: int) -> tuple[np.ndarray, int]:
    """Map each k-mer id (base-4, A=0) to the column of its reverse-complement class."""
    columns, classes = np.empty(4**k, dtype=np.intp), {}
    for kmer_id, kmer in enumerate(itertools.product(range(4), repeat=k)):
        reverse_complement = tuple(3 - base for base in reversed(kmer))
        key = min(kmer, reverse_complement)
        columns[kmer_id] = classes.setdefault(key, len(classes))
    return columns, len(classes)


CANONICAL_COLUMNS, CANONICAL_KMERS = _canonical_columns(K)  # 136 classes for k = 4


def kmer_frequencies(codes: np.ndarray, k: int = K) -> np.ndarray:
    """Canonical k-mer frequencies per row of int8 codes (B, L); k-mers with N are skipped."""
    codes = np.asarray(codes)
    if codes.shape[1] < k:
        raise EpizooError(f"sequences of length {codes.shape[1]} are shorter than k = {k}; use longer windows")
    columns, classes = (CANONICAL_COLUMNS, CANONICAL_KMERS) if k == K else _canonical_columns(k)
    return np.concatenate(
        [_chunk_frequencies(codes[start : start + ROWS_PER_CHUNK], k, columns, classes)
         for start in range(0, len(codes), ROWS_PER_CHUNK)]
        or [np.zeros((0, classes))]
    )


def _chunk_frequencies(codes: np.ndarray, k: int, columns: np.ndarray, classes: int) -> np.ndarray:
    rows, windows = codes.shape[0], codes.shape[1] - k + 1
    ids = np.zeros((rows, windows), dtype=np.int64)
    valid = np.ones((rows, windows), dtype=bool)
    for offset in range(k):  # base-4 number of each window, built one position at a time
        base = codes[:, offset : offset + windows].astype(np.int64)
        valid &= base < 4
        ids = ids * 4 + np.minimum(base, 3)
    flat = (np.arange(rows)[:, None] * classes + columns[ids])[valid]
    counts = np.bincount(flat, minlength=rows * classes).reshape(rows, classes).astype(np.float64)
    return counts / np.maximum(valid.sum(axis=1, keepdims=True), 1)


def kmer_features(enhancer_codes, promoter_codes, distance) -> np.ndarray:
    """Canonical 4-mer frequencies of the enhancer, then of the promoter: (B, 272). Distance is not
    used (only checked), so trans pairs need no rule."""
    enhancer_codes, promoter_codes, _ = _check_inputs(enhancer_codes, promoter_codes, distance)
    return np.hstack([kmer_frequencies(enhancer_codes), kmer_frequencies(promoter_codes)])


def kmer_model(
    max_iter: int = 300,
    learning_rate: float = 0.1,
    max_leaf_nodes: int = 31,
    l2_regularization: float = 1.0,
    random_state: int = 0,
    **window_lengths,
) -> object:
    """Histogram gradient boosting on the k-mer frequencies, with internal early stopping."""
    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        l2_regularization=l2_regularization,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=random_state,
    )


KMER_SPEC = ModelSpec(
    name="kmer",
    aliases=("k-mer", "kmer-gbm"),
    kind="sklearn",
    input_encoding="",
    factory=kmer_model,
    features=kmer_features,
    card=ModelCard(
        title="k-mer baseline: gradient boosting on canonical 4-mer frequencies of enhancer and promoter",
        authors="epizoo",
        citation=(
            "Gradient boosting as in TargetFinder (Whalen S, Truty RM, Pollard KS. Enhancer-promoter "
            "interactions are encoded by complex genomic signatures on looping chromatin. Nature Genetics "
            "48:488-496 (2016)), on sequence composition instead of epigenomic marks; propensity argument "
            "after Mao, Kostka & Chikina, The perils of interaction prediction, bioRxiv 435065 (2018)."
        ),
        licence="MIT",
        notes=(
            "What sequence composition alone buys. Mao, Kostka & Chikina showed that elements differ "
            "widely in how often they interact (propensity) and that a propensity model is competitive; a "
            "composition model can recognise an element, and its class of element, without modelling any "
            "interaction, so a deep model must beat this to claim more. Features: frequencies of the 136 "
            "canonical 4-mers (a k-mer and its reverse complement pooled, since the windows are read on "
            "the + strand whatever the element's orientation) of the enhancer and of the promoter, "
            "concatenated (272 columns); k-mers with N are skipped. No product (interaction) columns: "
            "the trees combine enhancer and promoter columns themselves, and 136 extra columns would "
            "double the cost for a linear-model convenience. k = 4 keeps 3 kb windows densely counted "
            "(about 22 counts per class; 6-mers would be mostly zeros). Distance is left out on purpose "
            "(the distance baseline covers it; TargetFinder also dropped it), so a pair across contigs "
            "(distance -1) is scored like any other. Model: scikit-learn "
            "HistGradientBoostingClassifier (the fast histogram form of TargetFinder's GBM), 31-leaf "
            "trees, learning rate 0.1, up to 300 rounds with early stopping on 10% of the training side."
        ),
    ),
    recipe=TrainingRecipe(
        epochs=1,
        augmentation_shifts=0,
        validation_fraction=0.0,
        notes="Fit once on the un-augmented training side; the estimator holds out its own 10% for early stopping.",
    ),
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={"max_iter": 300},
    tiny_hparams={"max_iter": 30},
)


@hookimpl
def register_models(register):
    register(DISTANCE_SPEC)
    register(KMER_SPEC)
