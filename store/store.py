"""The etcd v2 store: a deterministic state machine over the key tree, applied in raft log order.

User keys live under `/1`, member records under `/0` and v2 auth records under `/2`, so every
mutation of any of them takes one etcd index and one history slot, exactly as in etcd. Time
enters only through commands (`now`, `expire_at`) and the `now` argument of reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from store import snapshot
from store.auth import ENABLED
from store.commands import (
    AddMember,
    AuthDelete,
    AuthSet,
    Command,
    CompareAndDelete,
    CompareAndSwap,
    Create,
    Delete,
    PublishMember,
    RemoveMember,
    Set,
    SetClusterVersion,
    Sync,
    Update,
    UpdateMember,
)
from store.errors import (
    DIR_NOT_EMPTY,
    KEY_NOT_FOUND,
    NODE_EXIST,
    NOT_DIR,
    NOT_FILE,
    ROOT_R_ONLY,
    TEST_FAILED,
    EtcdError,
)
from store.event import (
    COMPARE_AND_DELETE,
    COMPARE_AND_SWAP,
    CREATE,
    DELETE,
    EXPIRE,
    GET,
    SET,
    UPDATE,
    Event,
    NodeExtern,
)
from store.history import EventHistory
from store.members import Member
from store.node import EVERY_LEVEL, Node, client_key, ttl_of, view
from store.stats import GET_ACTION, GET_RECURSIVE_ACTION, Counters, StoreMetrics, StoreStats
from store.ttl import TtlIndex
from store.watcher import Watcher, WatcherHub

USER_ROOT = "/1"
MEMBERS_DIR = "/0/members"
REMOVED_DIR = "/0/removed_members"
VERSION_KEY = "/0/version"
AUTH_ROOT = "/2"
# etcd's ensureAuthDirectories, in its order: created when missing before every auth write.
_AUTH_DIRS = (AUTH_ROOT, AUTH_ROOT + "/users", AUTH_ROOT + "/roles")
_READ_ONLY = frozenset(("/", "/0", USER_ROOT))


class Store:
    def __init__(self) -> None:
        self._root = Node("/", None, "", True, 0, None)
        for namespace in ("/0", USER_ROOT):
            self._attach(self._root, Node(namespace, self._root, "", True, 0, None))
        self._index = 0
        self._ttl = TtlIndex()
        self._hub = WatcherHub(EventHistory())
        self._counters = Counters()
        self._handlers: dict[type, Callable[[Any], Event | None]] = {
            Set: self._apply_set,
            Create: self._apply_create,
            Update: self._apply_update,
            CompareAndSwap: self._apply_cas,
            Delete: self._apply_delete,
            CompareAndDelete: self._apply_cad,
            Sync: self._apply_sync,
            AddMember: self._apply_add_member,
            UpdateMember: self._apply_update_member,
            RemoveMember: self._apply_remove_member,
            PublishMember: self._apply_publish_member,
            SetClusterVersion: self._apply_cluster_version,
            AuthSet: self._apply_auth_set,
            AuthDelete: self._apply_auth_delete,
        }

    @property
    def index(self) -> int:
        return self._index

    # ----------------------------------------------------------------------------- reads

    def get(self, key: str, recursive: bool = False, sorted: bool = False, now: int = 0) -> Event:
        path = user_path(key)
        self._counters.reads[GET_RECURSIVE_ACTION if recursive else GET_ACTION] += 1
        try:
            node = self._lookup(path)
        except EtcdError:
            self._counters.stats["gets_fail"] += 1
            raise
        self._counters.stats["gets_success"] += 1
        extern = view(node, EVERY_LEVEL if recursive else 1, sorted, now)
        return Event(GET, extern, None, self._index)

    def watch(
        self, key: str, recursive: bool = False, stream: bool = False, since_index: int = 0
    ) -> Watcher:
        """Raises 401 when `since_index` is older than the history window."""
        return self._hub.watch(
            user_path(key), recursive, stream, since_index or self._index + 1, self._index
        )

    def has_ttl_nodes(self) -> bool:
        return self._ttl.live > 0

    def next_expiry(self) -> int | None:
        return self._ttl.next_expiry()

    def stats(self) -> StoreStats:
        return self._counters.snapshot(self._hub.count)

    def metrics(self) -> StoreMetrics:
        return self._counters.metrics(self._hub.count, self._hub.watch_requests)

    def members(self) -> list[Member]:
        """Members with a raftAttributes record, sorted by id; name "" until published."""
        found = []
        members_dir = self._find(MEMBERS_DIR)
        records = members_dir.children if members_dir and members_dir.children else {}
        for name, record in records.items():
            raft_attrs = record.children.get("raftAttributes") if record.children else None
            if raft_attrs is None:
                continue
            attrs = record.children.get("attributes")
            published = json.loads(attrs.value) if attrs is not None else {}
            found.append(
                Member(
                    int(name, 16),
                    published.get("name", ""),
                    tuple(json.loads(raft_attrs.value)["peerURLs"]),
                    tuple(published.get("clientURLs") or ()),
                )
            )
        found.sort(key=lambda member: member.id)
        return found

    def removed_member_ids(self) -> set[int]:
        removed = self._find(REMOVED_DIR)
        names = removed.children if removed and removed.children else {}
        return {int(name, 16) for name in names}

    def is_removed(self, member_id: int) -> bool:
        return self._find(f"{REMOVED_DIR}/{member_id:x}") is not None

    def cluster_version(self) -> str | None:
        node = self._find(VERSION_KEY)
        return node.value if node is not None else None

    def auth_record(self, resource: str) -> str | None:
        """The value of the v2 auth file `/2<resource>` (`/users/root`), None if absent."""
        node = self._find(AUTH_ROOT + resource)
        return None if node is None or node.children is not None else node.value

    def auth_names(self, directory: str) -> list[str]:
        """Sorted entry names of the v2 auth directory `/2<directory>` (`/users`)."""
        node = self._find(AUTH_ROOT + directory)
        return sorted(node.children) if node is not None and node.children else []

    def auth_enabled(self) -> bool:
        # Asked on every client request: most stores never had /2, so answer that without a walk.
        if self._root.children is None or AUTH_ROOT[1:] not in self._root.children:
            return False
        return self.auth_record(ENABLED) == "true"

    # ---------------------------------------------------------------------------- writes

    def apply(self, cmd: Command) -> Event | None:
        """Apply one committed command; raises EtcdError (index = current) and changes nothing."""
        handler = self._handlers.get(type(cmd))
        if handler is None:
            raise TypeError(f"not a store command: {cmd!r}")
        return handler(cmd)

    def sync(self, now: int) -> list[Event]:
        """Expire every node due at `now`, earliest first, one index and one event each."""
        events = []
        while (node := self._ttl.pop_due(now)) is not None:
            self._index += 1
            event = Event(
                EXPIRE,
                NodeExtern(
                    client_key(node.path),
                    dir=node.is_dir,
                    modified_index=self._index,
                    created_index=node.created_index,
                ),
                view(node, 0, False, now),
                self._index,
            )
            self._remove(node, event)
            self._counters.stats["expire_count"] += 1
            self._hub.notify(node.path, event)
            events.append(event)
        return events

    def _apply_set(self, cmd: Set) -> Event:
        with self._counting(SET):
            path = user_path(cmd.key)
            return self._set(path, cmd.dir, cmd.value, cmd.expire_at, cmd.refresh, cmd.now)

    def _apply_create(self, cmd: Create) -> Event:
        with self._counting(CREATE):
            path = user_path(cmd.key)
            return self._create_notify(path, cmd.dir, cmd.value, cmd.unique, cmd.expire_at, cmd.now)

    def _apply_update(self, cmd: Update) -> Event:
        with self._counting(UPDATE):
            path = user_path(cmd.key)
            return self._update(path, cmd.value, cmd.expire_at, cmd.refresh, cmd.now)

    def _apply_cas(self, cmd: CompareAndSwap) -> Event:
        with self._counting(COMPARE_AND_SWAP):
            path = user_path(cmd.key)
            if path in _READ_ONLY:
                raise EtcdError(ROOT_R_ONLY, "/", self._index)
            node = self._compared_file(path, cmd.prev_value, cmd.prev_index)
            return self._swap(node, cmd.value, cmd.expire_at, cmd.refresh, cmd.now)

    def _apply_delete(self, cmd: Delete) -> Event:
        with self._counting(DELETE):
            return self._delete(user_path(cmd.key), cmd.dir, cmd.recursive, cmd.now)

    def _apply_cad(self, cmd: CompareAndDelete) -> Event:
        with self._counting(COMPARE_AND_DELETE):
            path = user_path(cmd.key)
            node = self._compared_file(path, cmd.prev_value, cmd.prev_index)
            return self._removal(COMPARE_AND_DELETE, node, cmd.now)

    def _apply_sync(self, cmd: Sync) -> None:
        self.sync(cmd.now)

    def _apply_add_member(self, cmd: AddMember) -> Event:
        value = _json({"peerURLs": list(cmd.peer_urls)})
        with self._counting(CREATE):
            path = _member_path(cmd.id, "raftAttributes")
            return self._create_notify(path, False, value, False, None, cmd.now)

    def _apply_update_member(self, cmd: UpdateMember) -> Event:
        value = _json({"peerURLs": list(cmd.peer_urls)})
        with self._counting(UPDATE):
            path = _member_path(cmd.id, "raftAttributes")
            return self._update(path, value, None, False, cmd.now)

    def _apply_remove_member(self, cmd: RemoveMember) -> Event:
        """Two writes, as in etcd: delete the member's records, then mark its id removed.
        An existing marker is refused up front so a failure never leaves half the change."""
        marker = f"{REMOVED_DIR}/{cmd.id:x}"
        if self._find(marker) is not None:
            raise EtcdError(NODE_EXIST, marker, self._index)
        with self._counting(DELETE):
            self._delete(f"{MEMBERS_DIR}/{cmd.id:x}", True, True, cmd.now)
        with self._counting(CREATE):
            return self._create_notify(marker, False, "", False, None, cmd.now)

    def _apply_publish_member(self, cmd: PublishMember) -> Event:
        value = _json({"name": cmd.name, "clientURLs": list(cmd.client_urls)})
        with self._counting(SET):
            path = _member_path(cmd.id, "attributes")
            return self._set(path, False, value, None, False, cmd.now)

    def _apply_cluster_version(self, cmd: SetClusterVersion) -> Event:
        with self._counting(SET):
            return self._set(VERSION_KEY, False, cmd.version, None, False, cmd.now)

    def _apply_auth_set(self, cmd: AuthSet) -> Event:
        self._ensure_auth(cmd.now)
        path = AUTH_ROOT + clean_path(cmd.resource)
        if cmd.prev_exist:
            with self._counting(UPDATE):
                return self._update(path, cmd.value, None, False, cmd.now)
        with self._counting(CREATE):
            return self._create_notify(path, False, cmd.value, False, None, cmd.now)

    def _apply_auth_delete(self, cmd: AuthDelete) -> Event:
        self._ensure_auth(cmd.now)
        with self._counting(DELETE):
            return self._delete(AUTH_ROOT + clean_path(cmd.resource), False, False, cmd.now)

    def _ensure_auth(self, now: int) -> None:
        """The auth directories and `/2/enabled` ("false"), one write each when missing."""
        for path in _AUTH_DIRS:
            if self._find(path) is None:
                with self._counting(CREATE):
                    self._create_notify(path, True, "", False, None, now)
        enabled = AUTH_ROOT + ENABLED
        if self._find(enabled) is None:
            with self._counting(CREATE):
                self._create_notify(enabled, False, "false", False, None, now)

    @contextmanager
    def _counting(self, action: str) -> Iterator[None]:
        try:
            yield
        except EtcdError:
            self._counters.write(action, False)
            raise
        self._counters.write(action, True)

    def _set(
        self, path: str, is_dir: bool, value: str, expire_at: int | None, refresh: bool, now: int
    ) -> Event:
        """Replaces a file by a brand-new node; a refresh keeps the value but still replaces."""
        try:
            old = self._lookup(path)
        except EtcdError as exc:
            if exc.code != KEY_NOT_FOUND or refresh:
                raise
        else:
            if refresh:
                value = old.value
        _, event = self._create(path, is_dir, value, False, True, expire_at, SET, now)
        return self._publish(path, event, refresh)

    def _create_notify(
        self, path: str, is_dir: bool, value: str, unique: bool, expire_at: int | None, now: int
    ) -> Event:
        path, event = self._create(path, is_dir, value, unique, False, expire_at, CREATE, now)
        self._hub.notify(path, event)
        return event

    def _create(
        self,
        path: str,
        is_dir: bool,
        value: str,
        unique: bool,
        replace_file: bool,
        expire_at: int | None,
        action: str,
        now: int,
    ) -> tuple[str, Event]:
        """etcd's internalCreate: missing parents become permanent dirs with the new index.
        Returns the created path (in-order keys get theirs here) and the unpublished event."""
        index = self._index + 1
        if unique:
            path = f"{path}/{index:020d}"
        if path in _READ_ONLY:
            raise EtcdError(ROOT_R_ONLY, "/", self._index)
        parent_path, name = path.rsplit("/", 1)
        try:
            parent = self._make_dirs(parent_path or "/", index)
        except EtcdError:
            # etcd counts a path failure as a failed set whatever the operation, on top of
            # the operation's own failure count.
            self._counters.stats["sets_fail"] += 1
            self._counters.writes[action] += 1
            raise
        assert parent.children is not None
        prev = None
        existing = parent.children.get(name)
        if existing is not None:
            if not replace_file:
                raise EtcdError(NODE_EXIST, client_key(path), self._index)
            if existing.is_dir:
                raise EtcdError(NOT_FILE, client_key(path), self._index)
            prev = view(existing, 0, False, now)
            self._remove(existing, None)
        node = Node(path, parent, "" if is_dir else value, is_dir, index, expire_at)
        self._attach(parent, node)
        self._ttl.add(node)
        self._index = index
        ttl = ttl_of(expire_at, now)
        extern = NodeExtern(
            client_key(path), None if is_dir else value, is_dir, expire_at, ttl, None, index, index
        )
        return path, Event(action, extern, prev, index)

    def _update(
        self, path: str, value: str, expire_at: int | None, refresh: bool, now: int
    ) -> Event:
        """Keeps createdIndex; on a directory the event shows the new modifiedIndex but the
        stored directory keeps its old one (etcd's quirk)."""
        if path in _READ_ONLY:
            raise EtcdError(ROOT_R_ONLY, "/", self._index)
        node = self._lookup(path)
        if node.is_dir and value:
            raise EtcdError(NOT_FILE, client_key(path), self._index)
        if refresh:
            value = node.value
        index = self._index + 1
        prev = view(node, 0, False, now)
        if not node.is_dir:
            node.value = value
            node.modified_index = index
        self._ttl.change(node, expire_at)
        self._index = index
        extern = NodeExtern(
            client_key(path),
            None if node.is_dir else value,
            node.is_dir,
            expire_at,
            ttl_of(expire_at, now),
            None,
            index,
            node.created_index,
        )
        event = Event(UPDATE, extern, prev, index)
        return self._publish(path, event, refresh)

    def _swap(
        self, node: Node, value: str, expire_at: int | None, refresh: bool, now: int
    ) -> Event:
        """The write half of compareAndSwap: keeps createdIndex."""
        if refresh:
            value = node.value
        index = self._index + 1
        prev = view(node, 0, False, now)
        node.value = value
        node.modified_index = index
        self._ttl.change(node, expire_at)
        self._index = index
        ttl = ttl_of(expire_at, now)
        extern = NodeExtern(
            client_key(node.path), value, False, expire_at, ttl, None, index, node.created_index
        )
        event = Event(COMPARE_AND_SWAP, extern, prev, index)
        return self._publish(node.path, event, refresh)

    def _delete(self, path: str, is_dir: bool, recursive: bool, now: int) -> Event:
        if path in _READ_ONLY:
            raise EtcdError(ROOT_R_ONLY, "/", self._index)
        node = self._lookup(path)
        if node.children is not None:
            if not (is_dir or recursive):
                raise EtcdError(NOT_FILE, client_key(path), self._index)
            if node.children and not recursive:
                raise EtcdError(DIR_NOT_EMPTY, client_key(path), self._index)
        return self._removal(DELETE, node, now)

    def _removal(self, action: str, node: Node, now: int) -> Event:
        self._index += 1
        extern = NodeExtern(
            client_key(node.path),
            dir=node.is_dir,
            modified_index=self._index,
            created_index=node.created_index,
        )
        event = Event(action, extern, view(node, 0, False, now), self._index)
        self._remove(node, event)
        self._hub.notify(node.path, event)
        return event

    def _compared_file(self, path: str, prev_value: str, prev_index: int) -> Node:
        """The file a compareAndSwap/compareAndDelete may change, or 100/102/101."""
        node = self._lookup(path)
        if node.is_dir:
            raise EtcdError(NOT_FILE, client_key(path), self._index)
        value_ok = not prev_value or node.value == prev_value
        index_ok = not prev_index or node.modified_index == prev_index
        if value_ok and index_ok:
            return node
        value_cause = f"[{prev_value} != {node.value}]"
        index_cause = f"[{prev_index} != {node.modified_index}]"
        if index_ok:
            cause = value_cause
        elif value_ok:
            cause = index_cause
        else:
            cause = f"{value_cause} {index_cause}"
        raise EtcdError(TEST_FAILED, cause, self._index)

    def _publish(self, path: str, event: Event, refresh: bool) -> Event:
        """A refresh takes a history slot but is never delivered to a watcher."""
        if refresh:
            event = replace(event, refresh=True)
            self._hub.record(path, event)
        else:
            self._hub.notify(path, event)
        return event

    # ------------------------------------------------------------------------------ tree

    def _lookup(self, path: str) -> Node:
        """100 names the first missing prefix; 104 names the file met on the way."""
        node = self._root
        if path == "/":
            return node
        for name in path[1:].split("/"):
            children = node.children
            if children is None:
                raise EtcdError(NOT_DIR, client_key(node.path), self._index)
            child = children.get(name)
            if child is None:
                missing = f"{node.path}/{name}" if node.path != "/" else f"/{name}"
                raise EtcdError(KEY_NOT_FOUND, client_key(missing), self._index)
            node = child
        return node

    def _find(self, path: str) -> Node | None:
        try:
            return self._lookup(path)
        except EtcdError:
            return None

    def _make_dirs(self, path: str, index: int) -> Node:
        node = self._root
        if path == "/":
            return node
        for name in path[1:].split("/"):
            children = node.children
            assert children is not None
            child = children.get(name)
            if child is None:
                child_path = f"{node.path}/{name}" if node.path != "/" else f"/{name}"
                child = Node(child_path, node, "", True, index, None)
                self._attach(node, child)
            elif child.children is None:
                raise EtcdError(NOT_DIR, client_key(child.path), self._index)
            node = child
        return node

    @staticmethod
    def _attach(parent: Node, node: Node) -> None:
        assert parent.children is not None
        parent.children[node.name] = node

    def _remove(self, node: Node, event: Event | None) -> None:
        """Cut `node`'s subtree out; watchers at every removed path get `event` (etcd's
        descendant callback), children before their directory."""
        assert node.parent is not None and node.parent.children is not None
        del node.parent.children[node.name]
        pending = [(node, False)]
        while pending:
            current, expanded = pending.pop()
            if current.children and not expanded:
                pending.append((current, True))
                pending.extend((child, False) for child in current.children.values())
                continue
            current.removed = True
            self._ttl.discard(current)
            if event is not None:
                self._hub.notify_at(current.path, node.path, event, True)

    # ------------------------------------------------------------------------- snapshot

    def save(self) -> bytes:
        """The whole tree, index and history as msgpack; live watchers are not part of it."""
        return snapshot.dump(self._root, self._index, self._hub.history)

    @classmethod
    def restore(cls, data: bytes) -> Store:
        """Raises snapshot.BadSnapshot for bytes that are not a store snapshot."""
        store = cls()
        store._root, store._index, history = snapshot.load(data)
        store._hub = WatcherHub(history)
        pending = [store._root]
        while pending:
            node = pending.pop()
            store._ttl.add(node)
            if node.children:
                pending.extend(node.children.values())
        return store


def user_path(key: str) -> str:
    """A client key in the user namespace; cleaned first so `..` can never leave `/1`."""
    if key.startswith("/") and "//" not in key and "/." not in key and not key.endswith("/"):
        return USER_ROOT + key
    cleaned = clean_path("/" + key)
    return USER_ROOT if cleaned == "/" else USER_ROOT + cleaned


def clean_path(path: str) -> str:
    """Go's path.Clean for a rooted path."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _member_path(member_id: int, record: str) -> str:
    return f"{MEMBERS_DIR}/{member_id:x}/{record}"


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
