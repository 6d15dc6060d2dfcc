"""Virtual time: integer milliseconds and one event heap ordered by (time, seq)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class EventQueue:
    """The only source of time in a simulation; ties break on insertion order, so runs replay."""

    now: int = 0
    _seq: int = 0
    _heap: list[tuple[int, int, Callable[[], None]]] = field(default_factory=list)

    def at(self, time: int, action: Callable[[], None]) -> None:
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < {self.now}")
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, action))

    def after(self, delay: int, action: Callable[[], None]) -> None:
        self.at(self.now + max(0, delay), action)

    def __len__(self) -> int:
        return len(self._heap)

    def step(self) -> bool:
        """Run the earliest event; False when nothing is left."""
        if not self._heap:
            return False
        time, _, action = heapq.heappop(self._heap)
        self.now = time
        action()
        return True

    def run_until(self, deadline: int, stop: Callable[[], bool] | None = None) -> None:
        while self._heap and self._heap[0][0] <= deadline:
            self.step()
            if stop is not None and stop():
                return
        self.now = max(self.now, deadline)
