"""In-process helpers for tests and the simulator: no I/O, no clock, fully deterministic."""

from .network import Network

__all__ = ["Network"]
