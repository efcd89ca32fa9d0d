"""An example rdet plugin: registered through entry points only (see pyproject.toml)."""

__version__ = "0.1.0"
