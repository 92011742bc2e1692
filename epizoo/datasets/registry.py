"""Default plugin (filled in by its owner)."""

from epizoo.hookspecs import hookimpl  # noqa: F401
