"""Errors that describe a user's mistake.

Anything raised as :class:`EpizooError` is shown by the CLI as one line (no traceback) and
exits non-zero, so the message must say what is wrong *and* how to fix it.
"""


class EpizooError(Exception):
    """A problem with the user's input or environment, reported as one clear line."""


class InputFileError(EpizooError):
    """A file is missing, unreadable or malformed."""


class SequenceError(EpizooError):
    """Sequence is unavailable: a contig absent from the FASTA, an element off a contig, ..."""


class StoreError(EpizooError):
    """A store is missing, invalid, incomplete or would be overwritten without ``--force``."""


class UnknownNameError(EpizooError):
    """An unknown dataset, variant, model, split, encoder or metric name."""


class EmptyResultError(EpizooError):
    """A request selected nothing (no pairs left after filtering, an empty fold, ...)."""


class LeakageError(EpizooError):
    """The train and test sides of a fold share an element or an overlapping interval."""
