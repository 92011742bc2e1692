"""The statistics of a report: bootstrap confidence intervals of pooled AUROC and AUPR, and a
paired test of every model against the best one across folds.

Confidence intervals are percentile intervals of the ordinary (pair-level) bootstrap. The pairs
are sorted by score once; a resample (n pairs drawn with replacement) is then counts of positives
and negatives per group of tied scores, and its AUROC and AUPR cumulative sums over that one
order: exact for resampling, ties included, and fast enough for every model of a report. AUPR is average precision, as :func:`epizoo.metrics.aupr` computes it.

The paired test is the Wilcoxon signed-rank test on the per-fold AUROC differences between a model
and the column's best model (highest mean AUROC over folds), on the folds both scored. With n
folds the smallest two-sided p-value it can give is 2 / 2**n, so below :data:`MIN_FOLDS_FOR_TEST`
folds it cannot reach p < 0.05 whatever the models do; the report says so instead of implying
the models are equal.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
N_RESAMPLES = 1000
SEED = 0
CHUNK_ELEMENTS = 2_000_000  # resamples x pairs drawn at once: bounds memory (~100 MB of work arrays)
MIN_FOLDS_FOR_TEST = 6  # 2 / 2**6 = 0.031 < 0.05: the fewest folds at which the test can reject at 5 %
CI_TEXT = f"{CONFIDENCE:.0%} CI: percentile interval of {N_RESAMPLES:,} bootstrap resamples of the pooled test pairs, seed {SEED}"


def _tied_groups(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs sorted by score, highest first: each pair's group of tied scores (0, 1, ...), and
    its labels in that order."""
    order = np.argsort(-scores, kind="stable")
    starts = np.r_[False, np.diff(scores[order]) != 0]
    return np.cumsum(starts), labels[order]


def _resampled_curves(group: np.ndarray, labels: np.ndarray, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and average precision of each row of ``drawn`` (indices of the pairs a resample drew,
    the pairs in :func:`_tied_groups` order): counts of positives and negatives per tied group,
    then cumulative sums from the highest score down."""
    n_groups = int(group[-1]) + 1
    resamples = drawn.shape[0]
    cells = (np.arange(resamples)[:, None] * n_groups + group[drawn]) * 2 + labels[drawn]
    counts = np.bincount(cells.ravel(), minlength=resamples * n_groups * 2).reshape(resamples, n_groups, 2)
    new_neg, new_pos = counts[..., 0].astype(np.float64), counts[..., 1].astype(np.float64)
    true_pos, false_pos = np.cumsum(new_pos, axis=1), np.cumsum(new_neg, axis=1)
    positives, negatives = true_pos[:, -1], false_pos[:, -1]
    above = true_pos - new_pos  # positives scored strictly higher than each group
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = (new_neg * (above + 0.5 * new_pos)).sum(axis=1) / (positives * negatives)
        aupr = (new_pos * (true_pos / np.maximum(true_pos + false_pos, 1))).sum(axis=1) / positives
    one_class = (positives == 0) | (negatives == 0)
    auroc[one_class], aupr[one_class] = np.nan, np.nan
    return auroc, aupr


def bootstrap_ci(labels, scores, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[str, float]:
    """AUROC and AUPR of the pairs with their :data:`CONFIDENCE` percentile bootstrap intervals:
    ``auroc, auroc_low, auroc_high, aupr, aupr_low, aupr_high`` (NaN with one class)."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n = labels.size
    nan = dict.fromkeys(("auroc", "aupr", "auroc_low", "auroc_high", "aupr_low", "aupr_high"), math.nan)
    if n == 0:
        return nan
    group, ordered = _tied_groups(labels, scores)
    point_auroc, point_aupr = _resampled_curves(group, ordered, np.arange(n)[None, :])
    if math.isnan(point_auroc[0]):
        return nan
    result = {"auroc": float(point_auroc[0]), "aupr": float(point_aupr[0])}
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_ELEMENTS // n)
    aurocs, auprs = [], []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        auroc, aupr = _resampled_curves(group, ordered, rng.integers(0, n, size=(size, n)))
        aurocs.append(auroc)
        auprs.append(aupr)
    tail = 100 * (1 - CONFIDENCE) / 2
    for name, values in (("auroc", np.concatenate(aurocs)), ("aupr", np.concatenate(auprs))):
        result[f"{name}_low"], result[f"{name}_high"] = (float(v) for v in np.nanpercentile(values, [tail, 100 - tail]))
    return result


# ---- paired comparison across folds -----------------------------------------------------------
PAIRED_COLUMNS = ["column", "model", "best", "n_folds", "mean_difference", "wins", "p_value", "note"]


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero."""
    from scipy.stats import wilcoxon

    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparisons(metrics: pd.DataFrame, columns: list[str], metric: str = "auroc") -> pd.DataFrame:
    """Per report column (``columns``: each metrics row's), every model against the best one:
    folds paired, mean difference (best minus model), folds the best wins, p-value and a note."""
    frame = metrics.assign(column=columns)
    rows = []
    for column, group in frame.groupby("column", sort=False):
        table = group.pivot_table(index="fold", columns="model", values=metric, sort=False)
        means = table.mean()
        if means.dropna().empty:
            continue
        best = str(means.idxmax())
        for model in table.columns:
            if model == best:
                continue
            both = table[[best, model]].dropna()
            differences = (both[best] - both[model]).to_numpy()
            n = len(differences)
            p = wilcoxon_p(differences) if n else math.nan
            note = "" if n >= MIN_FOLDS_FOR_TEST else (
                f"{n} fold(s): too few for the test to reach p < 0.05 (its smallest p is {2 / 2 ** n:.3g})" if n else "no common folds")
            rows.append({"column": column, "model": model, "best": best, "n_folds": n,
                         "mean_difference": float(differences.mean()) if n else math.nan,
                         "wins": int((differences > 0).sum()), "p_value": p, "note": note})
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
