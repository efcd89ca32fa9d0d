"""rdet's foundation: the registry with entry-point plugins, MMRotate-compatible config files,
and the data types that datasets, models and evaluation exchange (``rdet_core.structures``).

Importing ``rdet_core`` costs only the standard library; ``rdet_core.structures`` imports numpy.
"""

from rdet_core.config import Config, ConfigDict, DictAction, parse_cfg_options
from rdet_core.plugins import PluginError, list_plugins
from rdet_core.registry import Registry, RegistryConflictError, UnknownTypeError, build_from_cfg

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigDict",
    "DictAction",
    "PluginError",
    "Registry",
    "RegistryConflictError",
    "UnknownTypeError",
    "__version__",
    "build_from_cfg",
    "list_plugins",
    "parse_cfg_options",
]
