"""Store commands: the payload of raft log entries, deterministic to apply on every member.

Every time-dependent value travels inside the command (`now` and `expire_at`, Unix nanoseconds,
taken from the clock of the member that received the request), so applying a command never reads
a clock. Keys are client keys (`/foo`), without the internal `/1` namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import msgpack


@dataclass(frozen=True, slots=True)
class Set:
    key: str
    value: str
    dir: bool
    expire_at: int | None
    refresh: bool
    now: int


@dataclass(frozen=True, slots=True)
class Create:
    """`unique` is POST: the key becomes `key/%020d` of the write's own index."""

    key: str
    value: str
    dir: bool
    unique: bool
    expire_at: int | None
    now: int


@dataclass(frozen=True, slots=True)
class Update:
    key: str
    value: str
    expire_at: int | None
    refresh: bool
    now: int


@dataclass(frozen=True, slots=True)
class CompareAndSwap:
    key: str
    prev_value: str
    prev_index: int
    value: str
    expire_at: int | None
    refresh: bool
    now: int


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    dir: bool
    recursive: bool
    now: int


@dataclass(frozen=True, slots=True)
class CompareAndDelete:
    key: str
    prev_value: str
    prev_index: int
    now: int


@dataclass(frozen=True, slots=True)
class Sync:
    """The leader's clock: applying it expires every node due at `now`, one event each."""

    now: int


@dataclass(frozen=True, slots=True)
class AddMember:
    """Member records live in the internal `/0` namespace, as in etcd, so indexes match."""

    id: int
    peer_urls: tuple[str, ...]
    now: int


@dataclass(frozen=True, slots=True)
class UpdateMember:
    id: int
    peer_urls: tuple[str, ...]
    now: int


@dataclass(frozen=True, slots=True)
class RemoveMember:
    id: int
    now: int


@dataclass(frozen=True, slots=True)
class PublishMember:
    """A started member's name and client URLs (etcd's `attributes` record)."""

    id: int
    name: str
    client_urls: tuple[str, ...]
    now: int


@dataclass(frozen=True, slots=True)
class SetClusterVersion:
    version: str
    now: int


@dataclass(frozen=True, slots=True)
class AuthSet:
    """etcd's v2auth `setResource`: a record under `/2` (`resource` like `/users/root`),
    created (`prev_exist` false) or updated. The value is final (password already hashed)."""

    resource: str
    value: str
    prev_exist: bool
    now: int


@dataclass(frozen=True, slots=True)
class AuthDelete:
    """etcd's v2auth `deleteResource`."""

    resource: str
    now: int


Command = (
    Set
    | Create
    | Update
    | CompareAndSwap
    | Delete
    | CompareAndDelete
    | Sync
    | AddMember
    | UpdateMember
    | RemoveMember
    | PublishMember
    | SetClusterVersion
    | AuthSet
    | AuthDelete
)

_TAGS: dict[type, int] = {
    Set: 1,
    Create: 2,
    Update: 3,
    CompareAndSwap: 4,
    Delete: 5,
    CompareAndDelete: 6,
    Sync: 7,
    AddMember: 8,
    UpdateMember: 9,
    RemoveMember: 10,
    PublishMember: 11,
    SetClusterVersion: 12,
    AuthSet: 13,
    AuthDelete: 14,
}
_CLASSES: dict[int, type] = {tag: cls for cls, tag in _TAGS.items()}
_ARITY: dict[int, int] = {tag: len(fields(cls)) for cls, tag in _TAGS.items()}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Field annotation (a string, see the __future__ import) -> check on the decoded value.
_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": _is_int,
    "int | None": lambda v: v is None or _is_int(v),
    "tuple[str, ...]": lambda v: isinstance(v, list) and all(isinstance(u, str) for u in v),
}
_NAMES: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in fields(cls)) for cls in _TAGS}
_FIELD_CHECKS: dict[int, tuple[tuple[str, Callable[[object], bool]], ...]] = {
    tag: tuple((f.name, _CHECKS[str(f.type)]) for f in fields(cls)) for cls, tag in _TAGS.items()
}


class BadCommand(ValueError):
    """Entry bytes that are not a command this version knows."""


def encode_command(cmd: Command) -> bytes:
    cls = type(cmd)
    row = [_TAGS[cls], *(getattr(cmd, name) for name in _NAMES[cls])]
    return msgpack.packb(row, use_bin_type=True, unicode_errors="surrogateescape")


def decode_command(data: bytes) -> Command:
    try:
        tag, *args = msgpack.unpackb(
            data, raw=False, use_list=True, unicode_errors="surrogateescape"
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadCommand(f"undecodable command: {exc}") from exc
    if not _is_int(tag) or tag not in _CLASSES or len(args) != _ARITY[tag]:
        raise BadCommand(f"unknown command tag {tag!r} with {len(args)} fields")
    cls = _CLASSES[tag]
    for (name, check), value in zip(_FIELD_CHECKS[tag], args, strict=True):
        if not check(value):
            raise BadCommand(f"{cls.__name__}.{name} cannot be {value!r}")
    return cls(*(tuple(a) if isinstance(a, list) else a for a in args))
