"""Distance-matched negatives: ratio, matching, no reuse of known pairs, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from epizoo.datasets.base import DatasetRequest, normalise_pair_table
from epizoo.datasets.negatives import ENHANCER, PROMOTER, _distance, add_negatives
from epizoo.datasets.synthetic import simulate
from epizoo.errors import EpizooError


@pytest.fixture(scope="module")
def positives():
    pairs = simulate(DatasetRequest(seed=5, options={"n_pairs": 20000, "n_contigs": 2, "cell_lines": 1})).pairs
    table = pairs[pairs["label"] == 1].copy()
    table["cv_group"] = "cv-" + table["enhancer_contig"].str[-1]
    table["source"] = "loops/" + table["cell_line"]
    return normalise_pair_table(table)


def keys(table):
    return set(zip(*(table[c] for c in [*ENHANCER, *PROMOTER, "cell_line"])))


def test_ratio_distance_and_provenance(positives):
    table, report = add_negatives(positives, ratio=5, seed=1)
    generated = table[table["label_generated"]]
    assert report["generated"] == len(generated) and report["shortfall"] == 0
    assert (table["label"] == 0).sum() == 5 * (table["label"] == 1).sum()
    assert (generated["label"] == 0).all()
    assert (generated["enhancer_contig"] == generated["promoter_contig"]).all()
    # never a known pair, never a positive of any cell line, no duplicates
    positive_pairs = {k[:-1] for k in keys(positives)}
    assert not {k[:-1] for k in keys(generated)} & positive_pairs
    assert len(keys(generated)) == len(generated)
    # distance-matched: inside the positives' range and a similar median
    pos_d, neg_d = _distance(positives), _distance(generated)
    assert neg_d.min() >= pos_d.min() and neg_d.max() <= pos_d.max()
    assert 0.6 < np.median(neg_d) / np.median(pos_d) < 1.6
    # cv-group and source come from the enhancer's rows
    lookup = positives.drop_duplicates(ENHANCER).set_index(ENHANCER)
    for row in generated.head(50).itertuples():
        origin = lookup.loc[(row.enhancer_contig, row.enhancer_start, row.enhancer_end)]
        assert (row.cv_group, row.source) == (origin["cv_group"], origin["source"])


def test_seeded_and_existing_negatives_count(positives):
    first, _ = add_negatives(positives, ratio=3, seed=7)
    again, _ = add_negatives(positives, ratio=3, seed=7)
    assert first.equals(again)
    topped, report = add_negatives(first, ratio=4, seed=7)  # already 3:1 -> one more per positive
    assert report["generated"] + report["shortfall"] == len(positives) and report["generated"] > 0
    unchanged, report = add_negatives(first, ratio=2)
    assert report["generated"] == 0 and len(unchanged) == len(first)


def test_available_filters_elements_and_shortfall_is_reported(positives):
    blocked = positives["promoter_start"].iloc[0]
    table, _ = add_negatives(positives, ratio=2, available=lambda kind, c, s, e: not (kind == "promoter" and s == blocked))
    assert not (table[table["label_generated"]]["promoter_start"] == blocked).any()
    few = positives.head(3)
    _, report = add_negatives(few, ratio=50)
    assert report["shortfall"] > 0 and report["generated"] + report["shortfall"] == 150
    assert all(type(value) is int for value in report.values())  # the build report is JSON


def test_bad_ratio(positives):
    with pytest.raises(EpizooError, match="--negatives"):
        add_negatives(positives, ratio=0)


def test_pairs_without_sequence_do_not_count_towards_the_ratio(positives):
    """Observed negatives the build will drop (no sequence) must not shrink the top-up."""
    first = positives.head(10)
    lost = first.assign(label=0, promoter_start=first["promoter_start"] + 7, promoter_end=first["promoter_end"] + 7)
    table = normalise_pair_table(pd.concat([first, lost], ignore_index=True))
    no_sequence = set(lost["promoter_start"])
    available = lambda kind, c, s, e: not (kind == "promoter" and s in no_sequence)  # noqa: E731
    _, report = add_negatives(table, ratio=2, available=available)
    assert report["generated"] + report["shortfall"] == 20  # 2 x 10 positives, the 10 lost negatives ignored
