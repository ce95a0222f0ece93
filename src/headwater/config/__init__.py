"""Settings from ``HEADWATER_*`` environment variables and ``headwater.yml``."""

from headwater.config.settings import Settings as Settings
from headwater.config.settings import load_settings as load_settings

__all__ = ["Settings", "load_settings"]
