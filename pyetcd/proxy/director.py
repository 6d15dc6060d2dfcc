"""Which members a v2 proxy forwards to, as etcd's httpproxy director chooses them: the client
URLs of the last refresh in a random order; an endpoint that failed to answer rests for the
failure wait, then is tried again. Time and randomness come in as arguments."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

# etcd refreshes every second instead of the configured interval while it knows no endpoint,
# when that interval is at least its default (30 s).
DEFAULT_REFRESH_S = 30.0
EMPTY_REFRESH_S = 1.0


@dataclass(slots=True)
class Director:
    failure_wait: float
    rng: random.Random
    urls: list[str] = field(default_factory=list)
    resting: dict[str, float] = field(default_factory=dict)  # url -> when it is tried again

    def refresh(self, urls: Sequence[str]) -> None:
        """New endpoints (all available again, as etcd builds fresh ones), shuffled."""
        self.urls = list(urls)
        self.rng.shuffle(self.urls)
        self.resting.clear()

    def available(self, now: float) -> list[str]:
        for url, until in list(self.resting.items()):
            if now >= until:
                del self.resting[url]
        return [u for u in self.urls if u not in self.resting]

    def failed(self, url: str, now: float) -> bool:
        """Rest `url`; False when it was resting already (etcd logs only the first)."""
        if url in self.resting:
            return False
        self.resting[url] = now + self.failure_wait
        return True

    def next_refresh(self, interval: float, now: float) -> float:
        if interval >= DEFAULT_REFRESH_S and not self.available(now):
            return EMPTY_REFRESH_S
        return interval
