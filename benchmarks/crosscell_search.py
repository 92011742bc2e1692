"""Choose crosscell-xgb's recipe on validation inside the training cell lines only.

The validation mirrors TransEPI's protocol with the training cell lines alone: train on one of them
(A) and score the other (B) on TransEPI's held-out chromosome groups, then the reverse; the score of
a candidate is the mean of the two directions' pooled AUROCs. The test cell line (NHEK) is not read:
the store's other cell lines are dropped before any fit.

The search is greedy, one stage at a time, each keeping the best of the last: the normalisation,
then feature groups added one by one (kept only if they raise the score by at least --min-gain),
then the distance form, then tree hyperparameters; the number of trees is read off the same fits
(the first n trees of the largest fit). It prints a JSON report of every candidate and the choice.

    python benchmarks/crosscell_search.py bengi-signals.zarr --train GM12878,HeLa --out search.json

Cost on one busy CPU core: about 1-2 min a candidate on BENGI's GM12878 + HeLa pairs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import zarr
from sklearn.metrics import roc_auc_score

from epizoo.splits.folds import transepi
from epizoo.store.io import open_store
from epizoo_zoo.cell_line_norm import DISTANCE_FORMS, FEATURE_GROUPS, NORMALISATIONS
from epizoo_zoo.crosscell_xgb import CellLineNormalisedXGB, crosscell_features

TREES = (25, 50, 75, 100, 150, 200, 300, 400)  # scored from the first n trees of one fit of the largest
BASE = {"normalisation": "none", "feature_groups": (), "distance_form": "log", "max_depth": 5, "learning_rate": 0.1,
        "subsample": 0.9, "colsample_bytree": 1.0, "min_child_weight": 10}
HYPERPARAMETERS = (
    {"max_depth": 3}, {"max_depth": 7}, {"learning_rate": 0.05}, {"colsample_bytree": 0.5},
    {"min_child_weight": 50}, {"subsample": 0.7},
)


def load(store: str, train_lines: list[str]):
    """Rows (as crosscell_features gives), labels, and each direction's folds: (train, test) masks."""
    group = zarr.open_group(store, mode="r")
    signals, distance = group["pair_signal"][:], group["pair_distance"][:]
    rows = crosscell_features(np.nan_to_num(signals), distance, group["pair_cell_line"][:])
    labels = group["pair_label"][:].astype(np.int64)
    measured = np.isfinite(signals).all(axis=(1, 2))
    ds = open_store(store)
    directions = {}
    for a in train_lines:
        for b in train_lines:
            if a != b:
                folds = transepi(ds, train=a, test=b)  # only cell lines a and b are read
                directions[f"{a}->{b}"] = [(f.train & measured, f.test & measured) for f in folds]
    return rows, labels, directions


def score(rows, labels, directions, candidate: dict, seed: int = 0) -> dict:
    """Pooled AUROC per direction and number of trees, and their mean over directions."""
    per_direction = {}
    for name, folds in directions.items():
        scores = {n: [] for n in TREES}
        truth = []
        for train, test in folds:
            model = CellLineNormalisedXGB(**candidate, n_estimators=max(TREES), n_jobs=1, random_state=seed)
            model.fit(rows[train], labels[train])
            for n in TREES:
                scores[n].append(model.predict_proba(rows[test], trees=n)[:, 1])
            truth.append(labels[test])
        truth = np.concatenate(truth)
        per_direction[name] = {n: float(roc_auc_score(truth, np.concatenate(s))) for n, s in scores.items()}
    mean = {n: float(np.mean([d[n] for d in per_direction.values()])) for n in TREES}
    best = max(mean, key=mean.get)
    return {"candidate": candidate, "by_trees": mean, "directions": per_direction, "trees": best, "auroc": mean[best]}


def search(rows, labels, directions, min_gain: float, log) -> dict:
    tried = []

    def run(candidate):
        started = time.monotonic()
        result = score(rows, labels, directions, candidate)
        result["seconds"] = round(time.monotonic() - started, 1)
        tried.append(result)
        log(f"{result['auroc']:.4f} ({result['trees']} trees, {result['seconds']} s) {candidate}")
        return result

    best = max((run({**BASE, "normalisation": n}) for n in NORMALISATIONS), key=lambda r: r["auroc"])
    for group in FEATURE_GROUPS:
        trial = run({**best["candidate"], "feature_groups": (*best["candidate"]["feature_groups"], group)})
        if trial["auroc"] >= best["auroc"] + min_gain:
            best = trial
    for form in DISTANCE_FORMS:
        if form != best["candidate"]["distance_form"]:
            trial = run({**best["candidate"], "distance_form": form})
            best = trial if trial["auroc"] >= best["auroc"] + min_gain else best
    for change in HYPERPARAMETERS:
        trial = run({**best["candidate"], **change})
        best = trial if trial["auroc"] >= best["auroc"] + min_gain else best
    return {"chosen": {**best["candidate"], "n_estimators": best["trees"]}, "validation_auroc": best["auroc"], "tried": tried}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store")
    parser.add_argument("--train", default="GM12878,HeLa", help="the training cell lines (comma-separated); no other is read")
    parser.add_argument("--min-gain", type=float, default=0.002, help="smallest validation AUROC gain that keeps a change")
    parser.add_argument("--out", help="write the JSON report here")
    args = parser.parse_args(argv)
    rows, labels, directions = load(args.store, args.train.split(","))
    report = search(rows, labels, directions, args.min_gain, lambda line: print(line, file=sys.stderr, flush=True))
    text = json.dumps(report, indent=1, default=list)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    print(json.dumps({"chosen": report["chosen"], "validation_auroc": report["validation_auroc"]}, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
