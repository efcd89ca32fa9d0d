"""MMRotate 0.3.x config files: ``Config``, ``ConfigDict``, ``--cfg-options`` parsing."""

from rdet_core.config.config import Config
from rdet_core.config.config_dict import ConfigDict
from rdet_core.config.loader import ConfigFileError
from rdet_core.config.options import DictAction, parse_cfg_options, parse_option_value

__all__ = ["Config", "ConfigDict", "ConfigFileError", "DictAction", "parse_cfg_options", "parse_option_value"]
