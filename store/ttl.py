"""Expiry index: a lazy-deletion heap of TTL nodes ordered by (expiry, path)."""

from __future__ import annotations

import heapq

from store.node import Node

# Rebuild once stale entries outnumber live ones by this much, so refresh-heavy
# workloads keep the heap proportional to the number of TTL nodes.
_SLACK = 64


class TtlIndex:
    """Entries go stale instead of being searched for: a node's entry is live while the node is
    in the tree and still has the entry's expiry. Ties on expiry expire in path order.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int, Node]] = []
        self._seq = 0
        self.live = 0

    def add(self, node: Node) -> None:
        """`node` just entered the tree."""
        if node.expire_at is not None:
            self.live += 1
            self._push(node, node.expire_at)

    def discard(self, node: Node) -> None:
        """`node` just left the tree (already marked removed)."""
        if node.expire_at is not None:
            self.live -= 1

    def change(self, node: Node, expire_at: int | None) -> None:
        """Set the expiry of a node that stays in the tree."""
        old = node.expire_at
        node.expire_at = expire_at
        if old is None and expire_at is None:
            return
        if old is None:
            self.live += 1
        elif expire_at is None:
            self.live -= 1
            return
        self._push(node, expire_at)

    def pop_due(self, now: int) -> Node | None:
        """The live node expiring first if due at `now` (it stays in the tree)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            expire_at, _, _, node = heapq.heappop(heap)
            if not node.removed and node.expire_at == expire_at:
                return node
        return None

    def next_expiry(self) -> int | None:
        heap = self._heap
        while heap and not _is_live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _push(self, node: Node, expire_at: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (expire_at, node.path, self._seq, node))
        if len(self._heap) > 2 * self.live + _SLACK:
            self._heap = [entry for entry in self._heap if _is_live(entry)]
            heapq.heapify(self._heap)


def _is_live(entry: tuple[int, str, int, Node]) -> bool:
    node = entry[3]
    return not node.removed and node.expire_at == entry[0]
