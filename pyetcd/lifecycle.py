"""The BOSH lifecycle of one member as pure decisions: what to do given what was observed.

etcd-release decided "nobody answered -> found a new cluster" and "drain -> leave and wipe", which
split the brain on partitions and lost data on every deploy. Here a member with data always
restarts as it is; a member without data joins whoever answers; only the `spec.bootstrap`
instance of a first deploy founds a cluster; and a drain leaves the cluster only when BOSH is
deleting the instance. `pyetcd.lifecycle_io` gathers the observations and carries out the
actions; nothing here does I/O, so every situation is a row in a unit-test table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of `/v2/members`; `name` is empty until the member has started once."""

    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Self:
    """This instance as the rendered templates describe it."""

    name: str
    peer_url: str


class StartKind(Enum):
    RESTART = "restart"  # data present: start from it, flags about the cluster are ignored
    FOUND = "found"  # first deploy, bootstrap instance, nobody answers: a new one-member cluster
    JOIN = "join"  # no data, the cluster answered: (re)add self if needed, start `existing`
    WAIT = "wait"  # no data, nobody answered and not allowed to found: observe again later


@dataclass(frozen=True, slots=True)
class StartObservation:
    """`members` is the member list from the first linked member that answered, or None;
    `foreign` names a member that answered but does not speak pyetcd's peer protocol."""

    me: Self
    has_data: bool
    members: tuple[Member, ...] | None
    bootstrap: bool
    first_deploy: bool
    foreign: str = ""


@dataclass(frozen=True, slots=True)
class StartAction:
    """`remove` are stale entries of this instance to delete before `add_self` (a member that
    lost its data must not come back under its old id: its votes and log are gone)."""

    kind: StartKind
    reason: str
    initial_cluster: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()
    add_self: bool = False

    @property
    def cluster_state(self) -> str:
        return "new" if self.kind is StartKind.FOUND else "existing"


def decide_start(obs: StartObservation) -> StartAction:
    me = obs.me
    if obs.has_data:
        return StartAction(
            StartKind.RESTART,
            "the data dir holds a member: restarting it as it is (no member add, no wipe)",
            ((me.name, me.peer_url),),
        )
    if obs.members is not None and obs.foreign:
        return StartAction(
            StartKind.WAIT,
            f"linked member {obs.foreign} does not speak pyetcd's peer protocol (an etcd-release "
            "member?): adding this member there would add one that never starts and cost that "
            "cluster its quorum; migrate as release/README.md says",
        )
    if obs.members is not None:
        return _join(me, obs.members)
    if obs.bootstrap and obs.first_deploy:
        return StartAction(
            StartKind.FOUND,
            "first deploy, bootstrap instance, no linked member answers: founding the cluster",
            ((me.name, me.peer_url),),
        )
    why = (
        "this disk has hosted a member before, so founding a new cluster would split the brain"
        if obs.bootstrap
        else "only the bootstrap instance of a first deploy founds a cluster"
    )
    return StartAction(StartKind.WAIT, f"no data and no linked member answers; {why}: retrying")


def _join(me: Self, members: tuple[Member, ...]) -> StartAction:
    mine = [m for m in members if me.peer_url in m.peer_urls or (m.name and m.name == me.name)]
    pending = next((m for m in mine if not m.name and me.peer_url in m.peer_urls), None)
    stale = tuple(m.id for m in mine if m is not pending)
    others = tuple(
        (m.name, url) for m in members if m.name and m.id not in stale and m is not pending
        for url in m.peer_urls
    )  # fmt: skip
    cluster = (*others, (me.name, me.peer_url))
    if pending is not None and not stale:
        reason = "already added to the cluster (never started): joining it"
    elif stale:
        reason = (
            f"the cluster lists this instance as {', '.join(stale)} but its data is gone: "
            "replacing that member with a new one"
        )
    else:
        reason = "no data, the cluster answers: adding this member and joining"
    return StartAction(
        StartKind.JOIN, reason, cluster, remove=stale, add_self=pending is None or bool(stale)
    )


# -- drain ----------------------------------------------------------------------------------


def deleting(next_state_json: str) -> bool:
    """BOSH deletes the instance (and its disk) when the next state has no persistent disk;
    an unreadable state is treated as a keep: leaving the cluster by mistake is worse."""
    try:
        state = json.loads(next_state_json) if next_state_json.strip() else {}
    except ValueError:
        return False
    return isinstance(state, dict) and state.get("persistent_disk") == 0


@dataclass(frozen=True, slots=True)
class DrainObservation:
    me: Self
    deleting: bool
    running: bool
    is_leader: bool
    members: tuple[Member, ...] | None


@dataclass(frozen=True, slots=True)
class DrainAction:
    hand_off: bool
    remove: str | None
    reason: str


def decide_drain(obs: DrainObservation) -> DrainAction:
    members = obs.members or ()
    hand_off = obs.running and obs.is_leader and len(members) > 1
    if not obs.deleting:
        return DrainAction(hand_off, None, "update, restart or recreate: keeping membership")
    mine = next((m for m in members if obs.me.peer_url in m.peer_urls), None)
    if mine is None:
        return DrainAction(hand_off, None, "being deleted and not a member: nothing to leave")
    if len(members) == 1:
        return DrainAction(False, None, "being deleted as the last member: nobody to leave")
    return DrainAction(hand_off, mine.id, f"being deleted: removing member {mine.id}")


# -- post-start -----------------------------------------------------------------------------


class PostStartKind(Enum):
    DONE = "done"
    WAIT = "wait"
    UPDATE_PEER_URL = "update-peer-url"


@dataclass(frozen=True, slots=True)
class PostStartObservation:
    """`member` is this member's entry, found by name, in its own member list."""

    me: Self
    healthy: bool
    member: Member | None


@dataclass(frozen=True, slots=True)
class PostStartAction:
    kind: PostStartKind
    reason: str
    member_id: str = ""


def decide_post_start(obs: PostStartObservation) -> PostStartAction:
    if not obs.healthy:
        return PostStartAction(PostStartKind.WAIT, "not healthy yet")
    if obs.member is None:
        return PostStartAction(PostStartKind.WAIT, "not in the member list yet")
    if obs.member.peer_urls != (obs.me.peer_url,):
        return PostStartAction(
            PostStartKind.UPDATE_PEER_URL,
            f"member {obs.member.id} advertises {','.join(obs.member.peer_urls)}, "
            f"expected {obs.me.peer_url}",
            obs.member.id,
        )
    return PostStartAction(PostStartKind.DONE, "healthy, joined, peer URL right")
