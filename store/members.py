"""Cluster members as recorded in the store's internal `/0` namespace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    """A cluster member as `/v2/members` shows it; `name` is "" until the member has published."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
