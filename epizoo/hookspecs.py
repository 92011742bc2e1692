"""Every hook contract of epizoo, in one place.

Registration hooks receive a ``register`` callback (as in llm and datasette) instead of
returning lists, so one plugin can register many things and the host controls the order.
Implementations may accept any subset of the arguments. Every hook here is documented with its
signature in ``docs/plugins.md`` (a test checks this).
"""

import pluggy

hookspec = pluggy.HookspecMarker("epizoo")
hookimpl = pluggy.HookimplMarker("epizoo")


@hookspec
def register_models(register):
    """Register models: call ``register(spec)`` with an :class:`epizoo.zoo.ModelSpec` for each."""


@hookspec
def register_datasets(register):
    """Register datasets: ``register(spec)`` with an :class:`epizoo.datasets.base.DatasetSpec`."""


@hookspec
def register_splits(register):
    """Register splits: ``register(name, function, description)``; ``function(ds, **options)`` returns a list of :class:`epizoo.splits.Fold`."""


@hookspec
def register_encoders(register):
    """Register encoders: ``register(name, function, description)``; ``function(codes)`` maps an int8 code tensor ``(batch, length)`` to model input on the same device."""


@hookspec
def register_metrics(register):
    """Register metrics: ``register(name, function, description)``; ``function(labels, scores)`` returns a float (scores are probabilities)."""


@hookspec
def register_commands(cli):
    """Add click commands to the ``epizoo`` command group ``cli``."""
