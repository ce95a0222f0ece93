"""headwater: lakehouse pipelines that record everything they do."""

__version__ = "0.1.0"
