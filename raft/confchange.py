"""Single-server membership changes as pure functions of the voter set."""

from __future__ import annotations

from .errors import ConfigError
from .types import NONE, ConfChange, ConfChangeKind


def check(voters: tuple[int, ...], cc: ConfChange) -> None:
    """Refuse, at proposal time, a change that could never be applied usefully."""
    if cc.node_id == NONE or cc.node_id >= 1 << 64:
        raise ConfigError(f"conf change needs a non-zero uint64 node id, got {cc.node_id}")
    if cc.kind is ConfChangeKind.REMOVE and voters == (cc.node_id,):
        raise ConfigError("cannot remove the last voter")


def apply_simple(voters: tuple[int, ...], cc: ConfChange) -> tuple[int, ...]:
    """The sorted voter set after `cc`. A change that would leave no voter is ignored, the
    same way on every node, since the entry is already committed."""
    if cc.kind is ConfChangeKind.ADD:
        return tuple(sorted({*voters, cc.node_id}))
    if cc.kind is ConfChangeKind.REMOVE:
        remaining = tuple(v for v in voters if v != cc.node_id)
        return remaining or voters
    return voters
