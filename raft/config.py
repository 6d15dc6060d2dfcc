"""Node configuration, validated on construction."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .errors import ConfigError
from .types import NONE


@dataclass(frozen=True, slots=True)
class Config:
    """Timing is in ticks; the randomised election timeout is drawn from
    [election_tick, 2 * election_tick) with `rng`, the core's only source of randomness.

    `applied` is the index the application has already applied (e.g. its snapshot) when
    restarting, so committed entries up to it are not delivered again. `max_uncommitted_bytes`
    of 0 means unbounded.
    """

    id: int
    rng: random.Random = field(default_factory=random.Random)
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_size_per_msg: int = 1 << 20
    max_inflight: int = 256
    max_uncommitted_bytes: int = 0
    applied: int = 0

    def __post_init__(self) -> None:
        if self.id == NONE or self.id < 0 or self.id >= 1 << 64:
            raise ConfigError(f"node id must be a non-zero uint64, got {self.id}")
        if self.heartbeat_tick <= 0:
            raise ConfigError("heartbeat_tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ConfigError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight <= 0:
            raise ConfigError("max_inflight must be greater than 0")
        if self.max_size_per_msg <= 0:
            raise ConfigError("max_size_per_msg must be greater than 0")
        if self.max_uncommitted_bytes < 0 or self.applied < 0:
            raise ConfigError("max_uncommitted_bytes and applied must not be negative")
