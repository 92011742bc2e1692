"""epizoo: enhancer-promoter interaction models on one data engine, under leak-free splits."""

__version__ = "0.1.0"
