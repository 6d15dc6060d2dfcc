"""Packet and byte rates over the most recent messages, as `/v2/stats/self` reports them."""

from __future__ import annotations

from collections import deque

WINDOW = 200


class RateQueue:
    """The last `WINDOW` sends (or receipts) with their sizes; rates are per second over the
    span from the oldest kept one to now, so an idle member's rates decay towards zero."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=WINDOW)

    def add(self, moment: float, size: int) -> None:
        self._samples.append((moment, size))

    def rates(self, now: float) -> tuple[float, float]:
        """(packets per second, bytes per second); zeros before two samples."""
        if len(self._samples) < 2:
            return 0.0, 0.0
        span = now - self._samples[0][0]
        if span <= 0:
            return 0.0, 0.0
        total = sum(size for _, size in self._samples)
        return len(self._samples) / span, total / span
