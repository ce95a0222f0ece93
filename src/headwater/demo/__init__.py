"""Sample data for ``make demo`` until the real pipeline replaces it."""

from headwater.demo.sample import sample_events as sample_events

__all__ = ["sample_events"]
