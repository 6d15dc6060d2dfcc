"""The store tree: nodes at internal paths (`/1/...` user keys, `/0/...` members), and views."""

from __future__ import annotations

from collections.abc import Iterator

from store.event import NodeExtern

NS_PER_SECOND = 1_000_000_000


class Node:
    """A file (`children` is None) or a directory; `value` is "" for directories, as in etcd.

    `removed` marks nodes cut out of the tree so stale TTL-index entries can be recognised
    without searching the heap.
    """

    __slots__ = (
        "children",
        "created_index",
        "expire_at",
        "modified_index",
        "name",
        "parent",
        "path",
        "removed",
        "value",
    )

    def __init__(
        self,
        path: str,
        parent: Node | None,
        value: str,
        is_dir: bool,
        index: int,
        expire_at: int | None,
    ) -> None:
        self.path = path
        self.name = path.rsplit("/", 1)[1]
        self.parent = parent
        self.value = value
        self.children: dict[str, Node] | None = {} if is_dir else None
        self.created_index = index
        self.modified_index = index
        self.expire_at = expire_at
        self.removed = False

    @property
    def is_dir(self) -> bool:
        return self.children is not None


def client_key(path: str) -> str:
    """Strips the user namespace `/1` (etcd's TrimPrefix); other namespaces keep their path."""
    return path[2:] if path.startswith("/1") else path


def ttl_of(expire_at: int | None, now: int) -> int:
    """Whole seconds left, rounded up (0 when permanent); Go's truncating division, so an
    overdue node shows 0 or a negative count until it is swept."""
    if expire_at is None:
        return 0
    delta = expire_at - now
    seconds = abs(delta) // NS_PER_SECOND
    if delta < 0:
        seconds = -seconds
    if delta - seconds * NS_PER_SECOND > 0:
        seconds += 1
    return seconds


EVERY_LEVEL = -1


def view(node: Node, levels: int, sort: bool, now: int) -> NodeExtern:
    """`node` with `levels` of non-hidden children listed below it: 0 for event nodes (etcd's
    `Repr`), 1 for a plain get, EVERY_LEVEL for a recursive one. Iterative, so any depth works.
    """
    if node.children is None or levels == 0:
        return _extern(node, None, now)
    # Frames: a directory, its pending children, the views made so far, levels left below it.
    frames: list[tuple[Node, Iterator[Node], list[NodeExtern], int]] = [
        (node, iter(node.children.values()), [], levels - 1)
    ]
    while True:
        current, pending, made, below = frames[-1]
        child = next(pending, None)
        if child is None:
            frames.pop()
            if sort:
                made.sort(key=_key_of)
            done = _extern(current, tuple(made) or None, now)
            if not frames:
                return done
            frames[-1][2].append(done)
        elif child.name.startswith("_"):
            continue
        elif child.children is None or below == 0:
            made.append(_extern(child, None, now))
        else:
            frames.append((child, iter(child.children.values()), [], below - 1))


def _extern(node: Node, nodes: tuple[NodeExtern, ...] | None, now: int) -> NodeExtern:
    is_dir = node.children is not None
    return NodeExtern(
        client_key(node.path),
        None if is_dir else node.value,
        is_dir,
        node.expire_at,
        ttl_of(node.expire_at, now),
        nodes,
        node.modified_index,
        node.created_index,
    )


def _key_of(node: NodeExtern) -> str:
    return node.key
