"""Coordinate conventions, converted in one place.

Everything inside epizoo is 0-based and half-open (BED): ``[start, end)``. Readers of other
conventions call the converters here and nowhere else.
"""

from __future__ import annotations

import re

from epizoo.errors import InputFileError

# The published augmentation (Data_Augmentation.R of EPIANN/EPIVAN/...): window i = 1..20 is
# shifted by (i - 10) * 50 bp, so offsets run from -450 to +500 bp.
DEFAULT_SHIFT_STEP = 50
DEFAULT_N_SHIFTS = 20

# The stored distance of a pair whose enhancer and promoter lie on different contigs (a trans
# pair): it has no linear distance. Not a number of base pairs: a model that uses distances must
# test for it (``distance == TRANS_DISTANCE``) before taking a logarithm or comparing, never treat
# it as "1 bp".
TRANS_DISTANCE = -1
# The largest coordinate or distance accepted anywhere: far beyond any genome, and small enough that
# the sum of two (a start plus a window, a position plus a distance) cannot overflow int64.
MAX_COORDINATE = 2**62


def augmentation_shifts(n_shifts: int = DEFAULT_N_SHIFTS, step: int = DEFAULT_SHIFT_STEP) -> list[int]:
    """Offsets (bp) of the published shifted windows: ``(i - n//2) * step`` for i = 1..n."""
    return [(i - n_shifts // 2) * step for i in range(1, n_shifts + 1)]


def required_flank(n_shifts: int = DEFAULT_N_SHIFTS, step: int = DEFAULT_SHIFT_STEP) -> int:
    """Bases stored on each side of a window so every shifted window can be cut from it."""
    shifts = augmentation_shifts(n_shifts, step) if n_shifts else [0]
    return max(abs(s) for s in shifts)


def centre(start, end):
    """Centre of ``[start, end)``, rounded down (works on ints and numpy arrays)."""
    return (start + end) // 2


def window_start(start, end, window: int):
    """Start of a ``window``-bp window centred on ``[start, end)`` (ints or numpy arrays)."""
    return centre(start, end) - window // 2


def stored_window_start(start, end, window: int, flank: int):
    """First genomic base of the stored array: the centred window plus ``flank`` on each side."""
    return window_start(start, end, window) - flank


def cut_offset(window: int, flank: int, length: int, shift: int = 0) -> int:
    """Index in a stored array (``window + 2*flank`` long) where a ``length``-bp view starts.

    The view is centred like the stored window, moved by ``shift`` bp (positive: downstream).
    """
    offset = flank + (window - length) // 2 + shift
    if offset < 0 or offset + length > window + 2 * flank:
        raise ValueError(
            f"a {length}-bp window shifted by {shift} bp does not fit in the stored "
            f"{window}+2x{flank} bp; rebuild the store with a larger window or flank"
        )
    return offset


# ---- converters from other conventions -------------------------------------------------------

_TARGETFINDER_NAME = re.compile(r"^(?P<cell>[^|]+)\|(?P<chrom>[^:]+):(?P<s>\d+)-(?P<e>\d+)$")


def from_targetfinder_name(name: str) -> tuple[str, str, int, int]:
    """``<cell>|<chrom>:<S>-<E>`` to ``(cell, chrom, start, end)`` in 0-based half-open form.

    TargetFinder's names are 1-based and closed: the element's sequence is the BED interval
    ``(S-1, E)``, one base more than ``E - S`` (checked against three public sequence sets).
    """
    match = _TARGETFINDER_NAME.match(name.strip())
    if match is None:
        raise InputFileError(
            f"malformed TargetFinder element name {name!r}; expected '<cell>|<chrom>:<start>-<end>'"
        )
    return match["cell"], match["chrom"], int(match["s"]) - 1, int(match["e"])


_REGION = re.compile(r"^(?P<chrom>[^:\s]+):(?P<s>\d+)-(?P<e>\d+)")


def parse_region(text: str) -> tuple[str, int, int]:
    """``chrom:start-end`` (bedtools getfasta headers, already 0-based half-open) to a tuple."""
    match = _REGION.match(text.strip())
    if match is None:
        raise InputFileError(f"malformed region {text!r}; expected 'chrom:start-end'")
    start, end = int(match["s"]), int(match["e"])
    if end <= start:
        raise InputFileError(f"empty or reversed region {text!r}; end must be greater than start")
    return match["chrom"], start, end


def from_one_based_closed(start: int, end: int) -> tuple[int, int]:
    """1-based closed ``[start, end]`` (GFF/VCF, UCSC browser text) to 0-based half-open."""
    return start - 1, end


def from_targetfinder_names(names):
    """Vectorised :func:`from_targetfinder_name` over a pandas Series of names.

    Returns a DataFrame (``cell``, ``chrom``, ``start``, ``end``; 0-based half-open) with the
    original index; rows that are not well-formed names are all-NaN, for the caller to report.
    """
    parts = names.str.strip().str.extract(_TARGETFINDER_NAME)
    parts.columns = ["cell", "chrom", "start", "end"]
    ok = parts["start"].notna()
    parts["start"] = parts["start"].astype("float64") - 1
    parts["end"] = parts["end"].astype("float64")
    parts.loc[~ok, ["start", "end"]] = float("nan")
    return parts
