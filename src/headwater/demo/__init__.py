"""The shop demo: a seeded data generator and the end-to-end run behind ``headwater demo``."""

from headwater.demo.run import DemoSummary as DemoSummary
from headwater.demo.run import run_demo as run_demo
from headwater.demo.shop import generate_batch as generate_batch

__all__ = ["DemoSummary", "generate_batch", "run_demo"]
