"""The v2 keyspace as plain data: trees read from one cluster, the writes that rebuild them on
another, and what a watch event asks the copy to do. Pure, so the copy's rules are unit-tested
without servers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Node = Mapping[str, Any]

SET_ACTIONS = frozenset({"set", "create", "update", "compareAndSwap"})
DELETE_ACTIONS = frozenset({"delete", "compareAndDelete", "expire"})


@dataclass(frozen=True, slots=True)
class Put:
    """Set `key` to `value`, or make it a directory when `value` is None; `ttl` is the
    remaining seconds when read and `expires_at` the source's absolute expiry (Unix seconds),
    the more precise of the two when both clusters' clocks agree."""

    key: str
    value: str | None
    ttl: int | None = None
    expires_at: float | None = None

    @property
    def is_dir(self) -> bool:
        return self.value is None


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    is_dir: bool


Write = Put | Delete


@dataclass(frozen=True, slots=True)
class Entry:
    """What a key holds, for comparing two trees (TTLs tick, so they are not compared)."""

    value: str | None
    is_dir: bool


def _ttl(node: Node) -> int | None:
    ttl = node.get("ttl")
    return max(int(ttl), 1) if ttl is not None else None


def _expiry(node: Node) -> float | None:
    text = node.get("expiration")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _put(node: Node) -> Put:
    value = None if node.get("dir") else node.get("value", "")
    return Put(node.get("key", "/"), value, _ttl(node), _expiry(node))


def walk(node: Node) -> Iterator[Node]:
    """`node` and everything below it, parents before children, in the listing's order."""
    yield node
    for child in node.get("nodes") or ():
        yield from walk(child)


def rebuild(root: Node) -> tuple[list[Put], list[Put]]:
    """The writes that recreate the tree under `root` (a v2 `node`, read recursively):
    directories that need their own write (empty, or with a TTL), parents first, then every
    key. Directories with neither come into being with their first key. `root` itself is
    rebuilt unless it is the keyspace root."""
    dirs: list[Put] = []
    keys: list[Put] = []
    for node in walk(root):
        key = node.get("key", "/")
        if node.get("dir"):
            if key != "/" and (node.get("ttl") is not None or not node.get("nodes")):
                dirs.append(_put(node))
        else:
            keys.append(_put(node))
    return dirs, keys


def entries(root: Node) -> dict[str, Entry]:
    """Every key and directory under `root` (the root itself excluded)."""
    out: dict[str, Entry] = {}
    for node in walk(root):
        key = node.get("key", "/")
        if node is root:
            continue
        is_dir = bool(node.get("dir"))
        out[key] = Entry(None if is_dir else node.get("value", ""), is_dir)
    return out


def differences(source: Mapping[str, Entry], dest: Mapping[str, Entry]) -> list[str]:
    """Keys whose content differs, is missing on `dest`, or exists only on `dest`; sorted."""
    return sorted(k for k in source.keys() | dest.keys() if source.get(k) != dest.get(k))


def extra_keys(source: Mapping[str, Entry], dest: Mapping[str, Entry]) -> list[Delete]:
    """What to delete on `dest` so it holds nothing `source` does not: topmost paths only."""
    gone = sorted(k for k in dest if k not in source)
    out: list[Delete] = []
    for key in gone:
        if out and key.startswith(out[-1].key + "/"):
            continue
        out.append(Delete(key, dest[key].is_dir))
    return out


def event_write(event: Node) -> Write | None:
    """The write that replays one watch event on the copy; None for actions that change
    nothing (there are none in etcd 3.4's v2 API, but an unknown one must not be guessed)."""
    action = event.get("action")
    node = event.get("node") or {}
    key = node.get("key")
    if not isinstance(key, str):
        return None
    if action in SET_ACTIONS:
        return _put(node)
    if action in DELETE_ACTIONS:
        return Delete(key, bool(node.get("dir")))
    return None


def normalise_prefix(prefix: str) -> str:
    """etcd's key form: one leading slash, no trailing one (`/` for the whole keyspace)."""
    parts = [p for p in prefix.split("/") if p]
    return "/" + "/".join(parts)
