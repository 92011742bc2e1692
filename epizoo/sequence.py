"""DNA as int8 codes: A, C, G, T, N = 0, 1, 2, 3, 4.

The store keeps these codes; one-hot, k-mer ids and embeddings are computed from them on the
model's device (see :mod:`epizoo.encoders`). This is the only place that maps letters to codes.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGTN"
N_CODE = 4

_ENCODE = np.full(256, N_CODE, dtype=np.int8)
for _code, _letter in enumerate("ACGT"):
    _ENCODE[ord(_letter)] = _code
    _ENCODE[ord(_letter.lower())] = _code
_DECODE = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


def encode(sequence: str | bytes) -> np.ndarray:
    """Letters to int8 codes; anything other than A/C/G/T (any case) becomes N (4)."""
    raw = sequence.encode("ascii") if isinstance(sequence, str) else sequence
    return _ENCODE[np.frombuffer(raw, dtype=np.uint8)]


def decode(codes: np.ndarray) -> str | list[str]:
    """int8 codes to upper-case letters; a 2-D array gives one string per row."""
    codes = np.asarray(codes)
    if codes.ndim == 2:
        return [decode(row) for row in codes]
    return _DECODE[codes.astype(np.intp)].tobytes().decode("ascii")
