"""epizoo's built-in models, each module a plugin registered through the `epizoo` entry points."""
