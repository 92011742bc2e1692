"""Contig names and their order, in one place.

Everything in epizoo that orders contigs (the store's ``contig_id``, the splits' folds, the
report's plots) or matches a user's contig name against known ones uses this module, so that
``'1'``, ``'chr1'``, ``'Chr1'`` and ``'CHR1'`` name the same chromosome everywhere (``'MT'`` and
``'chrM'`` too), and chr2 sorts before chr10 everywhere:

chr1 … chr22, chrX, chrY, chrM, then any other name in natural text order (digit runs compare as
numbers: ``chr1_random`` before ``chr10_random``, ``cv-2`` before ``cv-10``).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from epizoo.errors import UnknownNameError

#: the chromosomes a chromosome split holds out (canonical names): the autosomes and X
MAIN_CHROMOSOMES = frozenset([str(i) for i in range(1, 23)] + ["X"])

_SEX_AND_MITO = {"X": 1, "Y": 2, "M": 3}
_ALIASES = {"MT": "M"}  # Ensembl's MT is UCSC's chrM
_PREFIX = re.compile(r"^chr", flags=re.IGNORECASE)


def canonical(name: object) -> str:
    """The name without its ``chr`` prefix (any case), upper-cased: ``'chr5'``, ``'Chr5'``, ``'5'`` → ``'5'``."""
    core = _PREFIX.sub("", str(name).strip()).upper()
    return _ALIASES.get(core, core)


def same(a: object, b: object) -> bool:
    """Do ``a`` and ``b`` name the same contig (``'chrX'`` and ``'x'`` do)?"""
    return canonical(a) == canonical(b)


def is_main(name: object) -> bool:
    """chr1..chr22 or chrX, in either naming style."""
    return canonical(name) in MAIN_CHROMOSOMES


def natural_text_key(text: object) -> tuple:
    """Natural order of any text: digit runs compare as numbers ('cv-2' before 'cv-10')."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text)))


def natural_key(name: object) -> tuple:
    """Sort key: chr1, chr2, …, chr22, chrX, chrY, chrM, then other names in natural text order.

    Ties between the two naming styles (``'1'`` and ``'chr1'``) are broken by the name, so the
    order never depends on the input's order.
    """
    core = canonical(name)
    if core.isdigit():
        return (0, int(core), (), str(name))
    if core in _SEX_AND_MITO:
        return (1, _SEX_AND_MITO[core], (), str(name))
    return (2, 0, natural_text_key(name), str(name))


def natural_order(names: Iterable[object]) -> list[str]:
    """``names`` as strings, in :func:`natural_key` order."""
    return sorted((str(n) for n in names), key=natural_key)


def find(name: object, known: Sequence[str]) -> int | None:
    """Position in ``known`` of the contig ``name`` names (the exact spelling first, then either style), or None."""
    names = [str(k) for k in known]
    if str(name) in names:
        return names.index(str(name))
    wanted = canonical(name)
    return next((i for i, k in enumerate(names) if canonical(k) == wanted), None)


def resolve(name: object, known: Sequence[str], where: str = "the store", prefix: str = "") -> int:
    """Position in ``known`` of ``name`` (either naming style), or one clear line listing the known names.

    ``prefix`` starts the message (e.g. ``'folds: '``), ``where`` names what holds ``known``.
    """
    position = find(name, known)
    if position is None:
        listed = ", ".join(natural_order(known)) or "none"
        raise UnknownNameError(f"{prefix}unknown contig {str(name)!r}; {where} has {listed}")
    return position
