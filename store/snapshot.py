"""Store snapshots as msgpack: the tree as a flat pre-order node list (no nesting limit), the
index, and the event history.
"""

from __future__ import annotations

import msgpack

from store.event import Event, NodeExtern
from store.history import EventHistory
from store.node import Node

FORMAT = 1

_NodeRow = tuple[str, str, bool, int, int, int | None]
_ExternRow = tuple[str, str | None, bool, int | None, int, int, int]


class BadSnapshot(ValueError):
    """Bytes that are not a store snapshot this version can read."""


def dump(root: Node, index: int, history: EventHistory) -> bytes:
    rows: list[_NodeRow] = []
    pending = [root]
    while pending:
        node = pending.pop()
        if node is not root:
            rows.append(
                (
                    node.path,
                    node.value,
                    node.is_dir,
                    node.created_index,
                    node.modified_index,
                    node.expire_at,
                )
            )
        if node.children:
            pending.extend(reversed(node.children.values()))
    events = [
        (key, e.action, _extern_row(e.node), _extern_row(e.prev_node), e.etcd_index, e.refresh)
        for key, e in history
    ]
    return msgpack.packb(
        [FORMAT, index, rows, events], use_bin_type=True, unicode_errors="surrogateescape"
    )


def load(data: bytes) -> tuple[Node, int, EventHistory]:
    try:
        version, index, rows, events = msgpack.unpackb(
            data, raw=False, use_list=True, unicode_errors="surrogateescape"
        )
        if version != FORMAT:
            raise BadSnapshot(f"unknown store snapshot format {version!r}")
        root = Node("/", None, "", True, 0, None)
        by_path = {"/": root}
        for path, value, is_dir, created, modified, expire_at in rows:
            parent_path = path.rsplit("/", 1)[0] or "/"
            parent = by_path[parent_path]
            node = Node(path, parent, value, is_dir, created, expire_at)
            node.modified_index = modified
            parent.children[node.name] = node
            by_path[path] = node
        history = EventHistory(
            (key, Event(action, _extern(node), _extern(prev), etcd_index, refresh))
            for key, action, node, prev, etcd_index, refresh in events
        )
    except BadSnapshot:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, msgpack.UnpackException) as exc:
        raise BadSnapshot(f"corrupt store snapshot: {exc!r}") from exc
    if not isinstance(index, int):
        raise BadSnapshot(f"corrupt store snapshot: index {index!r}")
    return root, index, history


def _extern_row(node: NodeExtern | None) -> _ExternRow | None:
    if node is None:
        return None
    return (
        node.key,
        node.value,
        node.dir,
        node.expiration,
        node.ttl,
        node.modified_index,
        node.created_index,
    )


def _extern(row: _ExternRow | None) -> NodeExtern | None:
    if row is None:
        return None
    key, value, is_dir, expiration, ttl, modified, created = row
    return NodeExtern(key, value, is_dir, expiration, ttl, None, modified, created)
