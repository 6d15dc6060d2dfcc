"""The last 1000 events of every namespace, scanned by watches with a waitIndex in the past."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from store.errors import EVENT_INDEX_CLEARED, EtcdError
from store.event import DELETE, EXPIRE, Event

HISTORY_SIZE = 1000


class EventHistory:
    """Events in index order, each with the internal key it happened at.

    Every index-consuming write records exactly one event, so the event for index `i` sits at
    offset `i - start`.
    """

    def __init__(self, records: Iterable[tuple[str, Event]] = ()) -> None:
        self._records: deque[tuple[str, Event]] = deque(records, maxlen=HISTORY_SIZE)

    def add(self, key: str, event: Event) -> None:
        self._records.append((key, event))

    def __iter__(self) -> Iterator[tuple[str, Event]]:
        return iter(self._records)

    @property
    def start_index(self) -> int:
        return self._records[0][1].node.modified_index if self._records else 0

    @property
    def last_index(self) -> int:
        return self._records[-1][1].node.modified_index if self._records else 0

    def scan(self, key: str, recursive: bool, index: int) -> Event | None:
        """The first non-refresh event at or after `index` that a watch on `key` wants.

        Hidden keys are not filtered here, and a deleted or expired directory matches every
        watched key it is a string prefix of (`/w` matches `/wx`): both are etcd's behaviour.
        Raises 401 (index 0; the caller sets the current index) when `index` has left the window.
        """
        start = self.start_index
        if index < start:
            raise EtcdError(
                EVENT_INDEX_CLEARED,
                f"the requested history has been cleared [{start}/{index}]",
            )
        if index > self.last_index:
            return None
        prefix = key if key.endswith("/") else key + "/"
        for event_key, event in islice(self._records, index - start, None):
            if event.refresh:
                continue
            if event_key == key or (recursive and event_key.startswith(prefix)):
                return event
            prev = event.prev_node
            if (
                prev is not None
                and prev.dir
                and event.action in (DELETE, EXPIRE)
                and key.startswith(event_key)
            ):
                return event
        return None
