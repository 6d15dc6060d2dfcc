"""Split-brain detection: every member asks every peer it knows who it is and whom it follows.

This replaces etcd-release's etcd_consistency_checker, which polled client ports and killed
itself (so monit flagged every VM) on any error. Here a member exchanges a `Status` (cluster
id, member id, leader, term) over the peer port with every peer URL in its configuration and
in its member list, and also records the Status of every member that asks it. Two cluster ids
among the answers, or two leaders claimed inside one cluster for longer than an election can
explain, is a split brain: the member logs it naming both sides, `/health` turns unhealthy
with the reason, and a gauge says so in /metrics, until the split is gone.

A peer of the build before status exchanges closes the connection on one; it is then asked
for its cluster information (a joiner's INFO request, which every build answers) for a while.
A peer that answers with something else than our framing is taken for a real etcd member (an
HTTP server on its peer port) and asked `GET /members`, whose `X-Etcd-Cluster-ID` header etcd's
peer handler always sets: an etcd cluster left running beside a pyetcd one is a split too.
Either fallback gives the peer's cluster id, though not its leader.

What must never trip it: a peer that is down or restarting only stops answering; a member
mid-join answers with the cluster id it joined; an election makes members report no leader or
a stale one for at most a few election timeouts, and a finding must persist longer than that.

The decision (`assess`, `SplitBrainAlarm`) is pure; `SplitBrainMonitor` is the I/O edge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from pyetcd.ids import format_id
from pyetcd.membership import BadContext, decode_info
from raft.aio.peer_frames import MIN_PROTO_VERSION, Status
from raft.aio.transport import (
    ClientSSL,
    PeerProtocolError,
    PeerURLError,
    exchange_status,
    fetch_info,
)

log = logging.getLogger("etcdserver")

INTERVAL = 3.0
JITTER = 0.2
TIMEOUT = 2.0
CONFIRM_ROUNDS = 2
CLEAR_ROUNDS = 2
# An inbound Status counts for this many intervals: the asker polls us once per interval.
INBOUND_ROUNDS = 3
# How long a peer that does not exchange status is asked another way (it may be upgraded).
FALLBACK_FOR = 60.0

SELF = "self"
INBOUND = "inbound"

_POLL_ERRORS = (
    OSError,
    TimeoutError,
    EOFError,
    PeerProtocolError,
    PeerURLError,
    BadContext,
    aiohttp.ClientError,
    ValueError,
    TypeError,
)
Fallback = Literal["info", "http"]


@dataclass(frozen=True, slots=True)
class Report:
    """One member's Status and where we learnt it: a polled URL, SELF or INBOUND."""

    status: Status
    source: str


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a split: a cluster id or a leader id, and the members reporting it."""

    value: int
    members: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """Two or more cluster ids, or two or more leaders within one cluster."""

    kind: Literal["cluster", "leader"]
    cluster_id: int  # the cluster of a leader split; 0 for a cluster split
    sides: tuple[Side, ...]

    @property
    def key(self) -> tuple[str, int, frozenset[int]]:
        """What must stay the same from round to round for the finding to persist."""
        return (self.kind, self.cluster_id, frozenset(side.value for side in self.sides))

    def describe(self) -> str:
        def names(side: Side) -> str:
            return ", ".join(format_id(member) for member in side.members)

        if self.kind == "cluster":
            parts = [f"cluster {format_id(s.value)} (members {names(s)})" for s in self.sides]
            return "split brain: members answer for different clusters: " + " vs ".join(parts)
        parts = [f"leader {format_id(s.value)} (followed by {names(s)})" for s in self.sides]
        return (
            f"split brain: more than one leader in cluster {format_id(self.cluster_id)}: "
            + " vs ".join(parts)
        )


def _sides(groups: dict[int, set[int]]) -> tuple[Side, ...]:
    return tuple(Side(value, tuple(sorted(members))) for value, members in sorted(groups.items()))


def assess(reports: Sequence[Report]) -> Finding | None:
    """The split these reports show, if any (one report per member).

    A member that reports no leader (an election, a restart) claims nothing. Two leaders in
    one cluster may be a stale view during an election; `SplitBrainAlarm` waits that out.
    Leader claims count only from this round's own polls: an INBOUND Status can be a whole
    interval old, and a leader that has died since would look like a second one. Its cluster id
    still counts: a member of another cluster that asked us that recently is a split.
    """
    # A member both polled and asking: its polled answer, the fresher, wins.
    ordered = sorted(reports, key=lambda r: r.source != INBOUND)
    latest = {(r.status.cluster_id, r.status.member_id): r.status for r in ordered}
    clusters: dict[int, set[int]] = {}
    for cluster_id, member in latest:
        clusters.setdefault(cluster_id, set()).add(member)
    if len(clusters) > 1:
        return Finding("cluster", 0, _sides(clusters))
    leaders: dict[int, set[int]] = {}
    polled = {(r.status.cluster_id, r.status.member_id) for r in reports if r.source != INBOUND}
    for key, status in latest.items():
        if status.leader_id and key in polled:
            leaders.setdefault(status.leader_id, set()).add(status.member_id)
    if len(leaders) > 1:
        (cluster_id,) = clusters
        return Finding("leader", cluster_id, _sides(leaders))
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """The alarm went on with `finding` (or changed to it), or went off after it."""

    finding: Finding
    on: bool


class SplitBrainAlarm:
    """Debounces `assess`: trips once the same finding has held for `confirm_rounds` rounds in a
    row and, for two leaders, for longer than `leader_grace` seconds (check-quorum deposes a
    cut-off leader within an election timeout, and a follower drops a silent leader as soon as
    it campaigns); clears after `clear_rounds` rounds in a row without one."""

    def __init__(
        self,
        leader_grace: float,
        confirm_rounds: int = CONFIRM_ROUNDS,
        clear_rounds: int = CLEAR_ROUNDS,
    ) -> None:
        self.leader_grace = leader_grace
        self.confirm_rounds = confirm_rounds
        self.clear_rounds = clear_rounds
        self.active: Finding | None = None
        self._pending: Finding | None = None
        self._pending_rounds = 0
        self._pending_since = 0.0
        self._clean_rounds = 0

    def observe(self, finding: Finding | None, now: float) -> Change | None:
        """Feed one round's finding at time `now`; returns the change it made, if any."""
        if finding is None:
            self._pending, self._pending_rounds = None, 0
            if self.active is None:
                return None
            self._clean_rounds += 1
            if self._clean_rounds < self.clear_rounds:
                return None
            cleared, self.active = self.active, None
            return Change(cleared, on=False)
        self._clean_rounds = 0
        if self.active is not None:
            changed = finding != self.active
            self.active = finding
            return Change(finding, on=True) if changed else None
        if self._pending is None or self._pending.key != finding.key:
            self._pending_since, self._pending_rounds = now, 0
        self._pending = finding
        self._pending_rounds += 1
        grace = self.leader_grace if finding.kind == "leader" else 0.0
        if self._pending_rounds < self.confirm_rounds or now - self._pending_since < grace:
            return None
        self.active, self._pending, self._pending_rounds = finding, None, 0
        return Change(finding, on=True)


def peer_urls_to_poll(
    initial_cluster: Iterable[tuple[str, Sequence[str]]],
    members: Iterable[Sequence[str]],
    own_urls: Iterable[str],
) -> list[str]:
    """Every peer URL of the initial cluster and of the member list but our own, in order."""
    own = set(own_urls)
    urls = [u for _, us in initial_cluster for u in us] + [u for us in members for u in us]
    return [url for url in dict.fromkeys(urls) if url not in own]


class SplitBrainMonitor:
    """Polls the peers each `interval` (jittered) and answers their polls (`answer`).

    `own` gives this member's Status now; `urls` the peer URLs to ask. Every exchange is
    bounded by `timeout`, all of a round's run at once."""

    def __init__(
        self,
        own: Callable[[], Status],
        urls: Callable[[], list[str]],
        client_ssl: ClientSSL | None,
        leader_grace: float,
        *,
        interval: float = INTERVAL,
        timeout: float = TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        self._own = own
        self._urls = urls
        self._client_ssl = client_ssl
        self.interval = interval
        self.timeout = min(timeout, interval)
        self._rng = rng or random.Random()
        self.alarm = SplitBrainAlarm(leader_grace)
        self._inbound: dict[int, tuple[float, Status]] = {}
        self._fallbacks: dict[str, tuple[Fallback, float]] = {}  # url -> how, until when

    @property
    def reason(self) -> str:
        """The active finding's description, "" while there is none."""
        active = self.alarm.active
        return active.describe() if active is not None else ""

    def answer(self, theirs: Status) -> Status:
        """A peer's poll: remember what it said, tell it who we are."""
        self._inbound[theirs.member_id] = (time.monotonic(), theirs)
        return self._own()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval * (1 + JITTER * (2 * self._rng.random() - 1)))
            await self.poll_once()

    async def poll_once(self) -> Change | None:
        mine = self._own()
        urls = self._urls()
        answers = await asyncio.gather(*(self._ask(url, mine) for url in urls))
        reports = [Report(mine, SELF)]
        reports += [Report(st, url) for url, st in zip(urls, answers, strict=True) if st]
        reports += self._fresh_inbound()
        change = self.alarm.observe(assess(reports), time.monotonic())
        if change is not None:
            self._log(change, reports)
        return change

    async def _ask(self, url: str, mine: Status) -> Status | None:
        try:
            how, until = self._fallbacks.get(url, ("info", 0.0))
            if until < time.monotonic():
                try:
                    return await exchange_status(url, mine, self._client_ssl, self.timeout)
                except EOFError:
                    how = "info"  # closed unanswered: a build without status exchanges
                except PeerProtocolError:
                    how = "http"  # not our framing: etcd's HTTP peer handler
                self._fallbacks[url] = (how, time.monotonic() + FALLBACK_FOR)
            if how == "info":
                return await self._ask_info(url)
            return await self._ask_etcd(url)
        except _POLL_ERRORS as exc:
            log.debug("split-brain check: no status from %s: %s", url, exc or type(exc).__name__)
            return None

    async def _ask_info(self, url: str) -> Status:
        """Cluster id and member id from a joiner's INFO request; the leader stays unknown.
        Status exchanges came with protocol 2, so a peer without them speaks 1."""
        data = await fetch_info(url, None, self._client_ssl, self.timeout, MIN_PROTO_VERSION)
        info = decode_info(data)
        member = next((m.id for m in info.members if url in m.peer_urls), 0)
        return Status(info.cluster_id, member, 0, 0)

    async def _ask_etcd(self, url: str) -> Status:
        """An etcd peer's cluster id (`X-Etcd-Cluster-ID`) and member id from `GET /members`."""
        ctx = self._client_ssl() if self._client_ssl and url.startswith("https:") else None
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{url.rstrip('/')}/members", ssl=ctx or True) as resp,
        ):
            cluster = resp.headers.get("X-Etcd-Cluster-ID")
            if resp.status != 200 or not cluster:
                raise PeerProtocolError(f"GET /members answered {resp.status} without a cluster id")
            members = json.loads(await resp.text())
        return Status(int(cluster, 16), _member_at(url, members), 0, 0)

    def _fresh_inbound(self) -> list[Report]:
        horizon = time.monotonic() - INBOUND_ROUNDS * self.interval
        for member, (seen, _) in list(self._inbound.items()):
            if seen < horizon:
                del self._inbound[member]
        return [Report(status, INBOUND) for _, status in self._inbound.values()]

    def _log(self, change: Change, reports: list[Report]) -> None:
        if not change.on:
            log.warning("split brain cleared (was: %s)", change.finding.describe())
            return
        seen = "; ".join(
            f"{format_id(r.status.member_id)} via {r.source}: cluster "
            f"{format_id(r.status.cluster_id)} leader {format_id(r.status.leader_id)} "
            f"term {r.status.term}"
            for r in reports
        )
        log.error("%s [%s]", change.finding.describe(), seen)


def _member_at(url: str, members: Any) -> int:
    """The id of the member in etcd's `/members` list that has `url` among its peer URLs."""
    for member in members if isinstance(members, list) else ():
        if isinstance(member, dict) and url in member.get("peerURLs", ()):
            raw = member.get("id")
            return int(raw, 16) if isinstance(raw, str) else int(raw)
    return 0
