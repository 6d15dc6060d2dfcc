"""What the store returns: node views and events, rendered to JSON by http_api."""

from __future__ import annotations

from dataclasses import dataclass

GET = "get"
SET = "set"
CREATE = "create"
UPDATE = "update"
DELETE = "delete"
COMPARE_AND_SWAP = "compareAndSwap"
COMPARE_AND_DELETE = "compareAndDelete"
EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class NodeExtern:
    """A node as a client sees it: key without the internal `/1` namespace ("" for the root).

    `value` is None for directories and for the node of delete/expire events (the JSON omits it);
    `expiration` is the absolute expiry in Unix nanoseconds (None when permanent); `ttl` is the
    remaining whole seconds, rounded up, on the clock the view was made with (0 is omitted);
    `nodes` is None when the JSON has no `nodes` field.
    """

    key: str
    value: str | None = None
    dir: bool = False
    expiration: int | None = None
    ttl: int = 0
    nodes: tuple[NodeExtern, ...] | None = None
    modified_index: int = 0
    created_index: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """One store event; `etcd_index` feeds `X-Etcd-Index` (the write's index; current for gets)."""

    action: str
    node: NodeExtern
    prev_node: NodeExtern | None = None
    etcd_index: int = 0
    refresh: bool = False
