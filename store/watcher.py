"""Watchers and the hub that routes each store event to the watchers that want it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from store.errors import EtcdError
from store.event import Event
from store.history import EventHistory

STREAM_BUFFER = 100


class Watcher:
    """One `?wait=true` request. Events are queued synchronously by the store's apply; the HTTP
    layer drains them with `take()` after `on_event` wakes it.

    `start_index` is the store index when the watch was made (the response's `X-Etcd-Index`).
    A watch answered from history is never registered with the hub and its event is queued
    before `on_event` can be set, so call `take()` once right after `Store.watch`: a non-stream
    one is then closed, a stream one (as in etcd) stays open and silent after that event.
    """

    __slots__ = (
        "_closed",
        "_hub",
        "_key",
        "_queue",
        "on_event",
        "recursive",
        "since_index",
        "start_index",
        "stream",
    )

    def __init__(
        self, key: str, recursive: bool, stream: bool, since_index: int, start_index: int
    ) -> None:
        self.stream = stream
        self.recursive = recursive
        self.since_index = since_index
        self.start_index = start_index
        self.on_event: Callable[[], None] | None = None
        self._key = key
        self._queue: list[Event] = []
        self._closed = False
        self._hub: WatcherHub | None = None

    def take(self) -> list[Event]:
        events = self._queue
        self._queue = []
        return events

    @property
    def closed(self) -> bool:
        return self._closed

    def remove(self) -> None:
        """The client went away: stop queueing. Does not call `on_event`."""
        self._closed = True
        if self._hub is not None:
            self._hub.unregister(self)

    def _offer(self, event: Event, exact: bool, deleted: bool) -> bool:
        """Queue `event` if wanted; True when the watcher took (or overflowed on) it."""
        if not (self.recursive or exact or deleted) or event.node.modified_index < self.since_index:
            return False
        if self.stream and len(self._queue) >= STREAM_BUFFER:
            self._closed = True
            if self._hub is not None:
                self._hub.unregister(self)
        else:
            self._queue.append(event)
            if not self.stream:
                self._closed = True
        if self.on_event is not None:
            self.on_event()
        return True


class WatcherHub:
    """Live watchers by internal key, in registration order, plus the event history."""

    def __init__(self, history: EventHistory) -> None:
        self.history = history
        self.count = 0
        self.watch_requests = 0
        self._watchers: dict[str, dict[Watcher, None]] = {}

    def watch(
        self, key: str, recursive: bool, stream: bool, since_index: int, current: int
    ) -> Watcher:
        self.watch_requests += 1
        try:
            event = self.history.scan(key, recursive, since_index)
        except EtcdError as exc:
            exc.index = current
            raise
        watcher = Watcher(key, recursive, stream, since_index, current)
        if event is not None:
            watcher._queue.append(replace(event, etcd_index=current))
            watcher._closed = not stream
            return watcher
        watcher._hub = self
        self._watchers.setdefault(key, {})[watcher] = None
        self.count += 1
        return watcher

    def unregister(self, watcher: Watcher) -> None:
        hub_watchers = self._watchers.get(watcher._key)
        watcher._hub = None
        if hub_watchers is None or watcher not in hub_watchers:
            return
        del hub_watchers[watcher]
        self.count -= 1
        if not hub_watchers:
            del self._watchers[watcher._key]

    def record(self, key: str, event: Event) -> None:
        """History only: refresh events are never delivered."""
        self.history.add(key, event)

    def notify(self, key: str, event: Event) -> None:
        """Record `event` (at internal `key`); deliver it to watchers at `key` and its ancestors."""
        self.history.add(key, event)
        if not self._watchers:
            return
        self.notify_at("/", key, event, False)
        start = 1
        while True:
            cut = key.find("/", start)
            self.notify_at(key if cut < 0 else key[:cut], key, event, False)
            if cut < 0:
                return
            start = cut + 1

    def notify_at(self, path: str, key: str, event: Event, deleted: bool) -> None:
        """Deliver to watchers registered at `path`; `deleted`: `path` was removed with `key`."""
        hub_watchers = self._watchers.get(path)
        if hub_watchers is None:
            return
        exact = path == key
        if not exact and len(path) <= len(key) and "/_" in "/" + key[len(path) :]:
            return
        for watcher in list(hub_watchers):
            if watcher._offer(event, exact, deleted) and not watcher.stream:
                self.unregister(watcher)
