"""etcd's sha1-derived member and cluster ids, so `X-Etcd-Cluster-Id` and `/v2/members` ids
match a real etcd started with the same URLs and token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _first_u64(data: bytes) -> int:
    return int.from_bytes(hashlib.sha1(data).digest()[:8], "big")


def member_id(peer_urls: Iterable[str], token: str, unix_seconds: int | None = None) -> int:
    """Bootstrap members hash their sorted peer URLs with the cluster token; members added at
    runtime also hash the wall-clock second, so re-adding the same URLs yields a new id."""
    material = "".join(sorted(peer_urls)) + token
    if unix_seconds is not None:
        material += str(unix_seconds)
    return _first_u64(material.encode())


def cluster_id(member_ids: Iterable[int]) -> int:
    return _first_u64(b"".join(i.to_bytes(8, "big") for i in sorted(member_ids)))


def format_id(value: int) -> str:
    """etcd prints ids with `%x`: lower-case hex without zero padding."""
    return format(value, "x")
