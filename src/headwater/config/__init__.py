"""Settings from ``HEADWATER_*`` environment variables and ``headwater.yml``."""

from headwater.config.settings import DEFAULT_CONFIG_FILE as DEFAULT_CONFIG_FILE
from headwater.config.settings import OPERATIONS_SECTIONS as OPERATIONS_SECTIONS
from headwater.config.settings import Settings as Settings
from headwater.config.settings import config_file as config_file
from headwater.config.settings import load_settings as load_settings

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "OPERATIONS_SECTIONS",
    "Settings",
    "config_file",
    "load_settings",
]
