"""The rdet command: train, test, infer, split, browse, print-config, env, plugins."""

__version__ = "0.1.0"
