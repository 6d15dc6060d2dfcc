"""Store counters: `/v2/stats/store` (StoreStats) and the `etcd_debugging_store_*` metrics."""

from __future__ import annotations

from dataclasses import dataclass, fields

from store.event import COMPARE_AND_DELETE, COMPARE_AND_SWAP, CREATE, DELETE, SET, UPDATE

GET_ACTION = "get"
GET_RECURSIVE_ACTION = "getRecursive"
READ_ACTIONS = (GET_ACTION, GET_RECURSIVE_ACTION)
WRITE_ACTIONS = (SET, CREATE, UPDATE, DELETE, COMPARE_AND_SWAP, COMPARE_AND_DELETE)


@dataclass(frozen=True, slots=True)
class StoreStats:
    """`/v2/stats/store`, fields in etcd's order (in memory: a restart resets them)."""

    gets_success: int = 0
    gets_fail: int = 0
    sets_success: int = 0
    sets_fail: int = 0
    delete_success: int = 0
    delete_fail: int = 0
    update_success: int = 0
    update_fail: int = 0
    create_success: int = 0
    create_fail: int = 0
    compare_and_swap_success: int = 0
    compare_and_swap_fail: int = 0
    compare_and_delete_success: int = 0
    compare_and_delete_fail: int = 0
    expire_count: int = 0
    watchers: int = 0

    def as_json_dict(self) -> dict[str, int]:
        return {_camel(f.name): getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class StoreMetrics:
    """Prometheus counters: reads and writes count attempts (failed ones included), by action."""

    reads: tuple[tuple[str, int], ...]
    writes: tuple[tuple[str, int], ...]
    expires: int
    watchers: int
    watch_requests: int


# Per write action: the StoreStats fields for success and failure.
WRITE_STATS: dict[str, tuple[str, str]] = {
    SET: ("sets_success", "sets_fail"),
    CREATE: ("create_success", "create_fail"),
    UPDATE: ("update_success", "update_fail"),
    DELETE: ("delete_success", "delete_fail"),
    COMPARE_AND_SWAP: ("compare_and_swap_success", "compare_and_swap_fail"),
    COMPARE_AND_DELETE: ("compare_and_delete_success", "compare_and_delete_fail"),
}


class Counters:
    """The mutable counts behind StoreStats and StoreMetrics."""

    def __init__(self) -> None:
        self.stats: dict[str, int] = {f.name: 0 for f in fields(StoreStats) if f.name != "watchers"}
        self.reads: dict[str, int] = dict.fromkeys(READ_ACTIONS, 0)
        self.writes: dict[str, int] = dict.fromkeys(WRITE_ACTIONS, 0)

    def write(self, action: str, ok: bool) -> None:
        self.stats[WRITE_STATS[action][0 if ok else 1]] += 1
        self.writes[action] += 1

    def snapshot(self, watchers: int) -> StoreStats:
        return StoreStats(**self.stats, watchers=watchers)

    def metrics(self, watchers: int, watch_requests: int) -> StoreMetrics:
        return StoreMetrics(
            reads=tuple(self.reads.items()),
            writes=tuple(self.writes.items()),
            expires=self.stats["expire_count"],
            watchers=watchers,
            watch_requests=watch_requests,
        )


def _camel(name: str) -> str:
    """`gets_success` -> `getsSuccess`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
