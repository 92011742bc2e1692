"""epizoo: enhancer-promoter interaction models on one data engine, under leak-free splits."""

__version__ = "0.1.0"

# Heavy modules (xarray, zarr, dask, torch) load only when these names are first used, so that
# `import epizoo` and the CLI's start stay cheap.
_LAZY = {
    "open_store": "epizoo.store.io",
    "simulate_store": "epizoo.store.simulate",
    "load_model": "epizoo.inference",
    "LoadedModel": "epizoo.inference",
    "predict_pairs": "epizoo.inference",
    "scan": "epizoo.inference_scan",
    "explain": "epizoo.explain",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'epizoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
