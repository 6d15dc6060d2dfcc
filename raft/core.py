"""The Raft protocol as a pure state machine: messages and ticks in, messages and state out.

Each role has its own step function; `step` first normalises the term for every role. Outgoing
messages accumulate in `msgs` and leave through RawNode.ready(), after the state they reflect
has been persisted by the application.
"""

from __future__ import annotations

from .codec import encode_conf_change
from .confchange import apply_simple, check
from .config import Config
from .errors import (
    Compacted,
    ConfigError,
    NotLeader,
    ProposalDropped,
    RaftInvariantError,
    Unavailable,
)
from .log import RaftLog
from .messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    Propose,
    ReadIndexRequest,
    ReadIndexResponse,
    RequestVote,
    TimeoutNow,
    TransferLeader,
    VoteResponse,
)
from .progress import Progress, ProgressState
from .quorum import VoteResult, vote_result
from .read_only import ReadOnly, ReadRequest
from .status import Counters
from .storage import Storage
from .tracker import ProgressTracker
from .types import (
    NONE,
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Role,
    Snapshot,
    SoftState,
)

_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot)
# Forwarded requests carry term 0: they are not part of the term protocol.
_FORWARDED = (Propose, ReadIndexRequest, TransferLeader)
_NORMAL = EntryKind.NORMAL
_LEADER = Role.LEADER
_REPLICATE = ProgressState.REPLICATE


class Raft:
    """One node's protocol state. RawNode is the public face; tests and the simulator may
    read attributes (term, role, log, tracker) but only RawNode methods change them."""

    def __init__(self, config: Config, storage: Storage) -> None:
        self.id = config.id
        self.config = config
        self.log = RaftLog(storage)
        hard_state, conf_state = storage.initial_state()
        self.tracker = ProgressTracker(conf_state.voters, config.max_inflight)
        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_reads: list[tuple[bytes, int]] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_tick
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.counters = Counters()
        # Set when new entries or a commit should be broadcast; flushed once per Ready so a
        # batch of proposals costs one append message per follower.
        self.bcast_pending = False
        if hard_state != HardState():
            self._load_state(hard_state)
        if config.applied:
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    def _load_state(self, hard_state: HardState) -> None:
        if not self.log.committed <= hard_state.commit <= self.log.last_index():
            raise RaftInvariantError(
                f"hard state commit {hard_state.commit} outside "
                f"[{self.log.committed}, {self.log.last_index()}]"
            )
        self.log.committed = hard_state.commit
        self.term = hard_state.term
        self.vote = hard_state.vote

    # -- state accessors ---------------------------------------------------------------------

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def promotable(self) -> bool:
        return self.id in self.tracker.voters

    # -- role transitions --------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.config.election_tick + self.config.rng.randrange(
            self.config.election_tick
        )
        self.lead_transferee = NONE
        self.tracker.reset_votes()
        self.tracker.progress = {}
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only.clear()
        self.pending_reads.clear()
        self.bcast_pending = False

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER

    def _become_pre_candidate(self) -> None:
        if self.role is _LEADER:
            raise RaftInvariantError("leader cannot become pre-candidate")
        # Neither term nor vote change: a failed pre-vote leaves no trace.
        self.tracker.reset_votes()
        self.lead = NONE
        self.role = Role.PRE_CANDIDATE

    def _become_candidate(self) -> None:
        if self.role is _LEADER:
            raise RaftInvariantError("leader cannot become candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            raise RaftInvariantError("follower cannot become leader without an election")
        self._reset(self.term)
        self.lead = self.id
        self.role = _LEADER
        last = self.log.last_index()
        max_inflight = self.config.max_inflight
        self.tracker.reset_progress(lambda _node: Progress(0, last + 1, max_inflight))
        me = self.tracker.progress[self.id]
        me.match = last
        me.become_replicate()
        me.recent_active = True
        # Conservatively assume an unapplied conf change may be in the log.
        self.pending_conf_index = last
        # An entry of the new term: only it lets earlier entries commit (Raft §5.4.2).
        self._append([Entry(self.term, last + 1)])

    # -- time --------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.role is _LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.hup()

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_tick:
            self.election_elapsed = 0
            if self.config.check_quorum and not self._check_quorum():
                return
            # A transfer not completed within an election timeout is abandoned.
            self.lead_transferee = NONE
        if self.heartbeat_elapsed >= self.config.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat(None)

    def _check_quorum(self) -> bool:
        """Step down unless a majority was heard from during the last election timeout."""
        if not self.tracker.quorum_active(self.id):
            self.become_follower(self.term, NONE)
            return False
        for node, pr in self.tracker.progress.items():
            pr.recent_active = node == self.id
        return True

    # -- elections ---------------------------------------------------------------------------

    def hup(self, transfer: bool = False) -> None:
        if self.role is _LEADER or not self.promotable() or self._has_unapplied_conf_changes():
            return
        if self.config.pre_vote and not transfer:
            self._campaign(pre_vote=True, transfer=False)
        else:
            self._campaign(pre_vote=False, transfer=transfer)

    def _has_unapplied_conf_changes(self) -> bool:
        log = self.log
        if log.applied >= log.committed:
            return False
        try:
            pending = log.slice(max(log.applied + 1, log.first_index()), log.committed + 1)
        except Compacted:
            return False
        return any(e.kind is EntryKind.CONF_CHANGE for e in pending)

    def _campaign(self, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self._become_pre_candidate()
            vote_term = self.term + 1
        else:
            self._become_candidate()
            vote_term = self.term
        self.tracker.record_vote(self.id, True)
        if self.tracker.tally_votes() is VoteResult.WON:
            self._won_election(pre_vote)
            return
        last_index = self.log.last_index()
        last_term = self.log.last_term()
        for voter in self.tracker.voters:
            if voter != self.id:
                self.msgs.append(
                    RequestVote(
                        voter, self.id, vote_term, last_index, last_term, pre_vote, transfer
                    )
                )

    def _won_election(self, pre_vote: bool) -> None:
        if pre_vote:
            self._campaign(pre_vote=False, transfer=False)
        else:
            self._become_leader()
            self.bcast_pending = True

    def _handle_vote_request(self, m: RequestVote) -> None:
        can_vote = (
            self.vote == m.frm
            or (self.vote == NONE and self.lead == NONE)
            or (m.pre_vote and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.last_index, m.last_term):
            # A granted pre-vote answers with the term it was asked about.
            self.msgs.append(VoteResponse(m.frm, self.id, m.term, m.pre_vote, False))
            if not m.pre_vote:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.msgs.append(VoteResponse(m.frm, self.id, self.term, m.pre_vote, True))

    # -- message dispatch ---------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if m.to != self.id or m.frm == NONE or m.frm == self.id:
            self.counters.misaddressed += 1
            return
        if m.term == 0:
            if not isinstance(m, _FORWARDED):
                # Every term-protocol message is sent at term 1 or later.
                self.counters.malformed += 1
                return
        elif m.term > self.term:
            if not self._step_higher_term(m):
                return
        elif m.term < self.term:
            self._step_lower_term(m)
            return
        if isinstance(m, RequestVote):
            self._handle_vote_request(m)
        elif self.role is _LEADER:
            self._step_leader(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _step_higher_term(self, m: Message) -> bool:
        """Adopt a higher term where Raft says so; False if the message must be ignored."""
        if isinstance(m, RequestVote):
            in_lease = (
                self.config.check_quorum
                and self.lead != NONE
                and self.election_elapsed < self.config.election_tick
            )
            if in_lease and not m.transfer:
                # We heard from a live leader recently: do not let this node disrupt it.
                self.counters.ignored_votes += 1
                return False
            if m.pre_vote:
                return True
        if isinstance(m, VoteResponse) and m.pre_vote and not m.reject:
            # Granted pre-votes carry the prospective term; the election will adopt it.
            return True
        self.become_follower(m.term, m.frm if isinstance(m, _FROM_LEADER) else NONE)
        return True

    def _step_lower_term(self, m: Message) -> None:
        if (self.config.check_quorum or self.config.pre_vote) and isinstance(
            m, (AppendEntries, Heartbeat)
        ):
            # Tell a stale leader our term so it steps down. Ignoring it would be unsafe for
            # liveness: under check-quorum or pre-vote, a node whose term grew while it was
            # cut off could otherwise never rejoin that leader's cluster.
            self.msgs.append(AppendResponse(m.frm, self.id, self.term, 0))
        elif isinstance(m, RequestVote) and m.pre_vote:
            self.msgs.append(VoteResponse(m.frm, self.id, self.term, True, True))
        else:
            self.counters.stale_term += 1

    def _step_leader(self, m: Message) -> None:
        match m:
            case AppendResponse():
                self._handle_append_response(m)
            case HeartbeatResponse():
                self._handle_heartbeat_response(m)
            case Propose():
                try:
                    self._leader_propose(tuple((e.kind, e.data) for e in m.entries))
                except ProposalDropped:
                    self.counters.dropped_proposals += 1
            case ReadIndexRequest():
                self._leader_read_index(m.ctx, m.frm)
            case TransferLeader():
                if m.transferee in self.tracker.voters:
                    self._transfer_to(m.transferee)
                else:
                    self.counters.malformed += 1
            case VoteResponse():
                pass  # votes arriving after the election was won
            case _:
                self.counters.unexpected += 1

    def _step_candidate(self, m: Message) -> None:
        match m:
            case AppendEntries() | Heartbeat() | InstallSnapshot():
                self.become_follower(m.term, m.frm)
                self._step_follower(m)
            case VoteResponse() if m.pre_vote == (self.role is Role.PRE_CANDIDATE):
                self.tracker.record_vote(m.frm, not m.reject)
                result = self.tracker.tally_votes()
                if result is VoteResult.WON:
                    self._won_election(self.role is Role.PRE_CANDIDATE)
                elif result is VoteResult.LOST:
                    self.become_follower(self.term, NONE)
            case Propose():
                self.counters.dropped_proposals += 1
            case ReadIndexRequest():
                self.counters.dropped_reads += 1
            case _:
                self.counters.unexpected += 1

    def _step_follower(self, m: Message) -> None:
        match m:
            case AppendEntries():
                self.election_elapsed = 0
                self.lead = m.frm
                self._handle_append(m)
            case Heartbeat():
                self.election_elapsed = 0
                self.lead = m.frm
                self._handle_heartbeat(m)
            case InstallSnapshot():
                self.election_elapsed = 0
                self.lead = m.frm
                self._handle_snapshot(m)
            case TimeoutNow():
                self.hup(transfer=True)
            case ReadIndexResponse():
                self.read_states.append(ReadState(m.index, m.ctx))
            case TransferLeader() if self.lead != NONE:
                self.msgs.append(TransferLeader(self.lead, self.id, 0, m.transferee))
            case Propose():
                self.counters.dropped_proposals += 1
            case ReadIndexRequest():
                self.counters.dropped_reads += 1
            case _:
                self.counters.unexpected += 1

    # -- follower side of replication ---------------------------------------------------------

    def _handle_append(self, m: AppendEntries) -> None:
        entries = m.entries
        if entries and (
            m.commit_only
            or entries[0].index != m.index + 1
            or entries[-1].index != m.index + len(entries)
        ):
            self.counters.malformed += 1
            return
        log = self.log
        if m.index < log.committed:
            self.msgs.append(AppendResponse(m.frm, self.id, self.term, log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, entries)
        if last_new is not None:
            if not m.commit_only:
                self.msgs.append(AppendResponse(m.frm, self.id, self.term, last_new))
            return
        hint_index, hint_term = log.find_conflict_by_term(
            min(m.index, log.last_index()), m.log_term
        )
        self.msgs.append(
            AppendResponse(m.frm, self.id, self.term, m.index, True, hint_index, hint_term)
        )

    def _handle_heartbeat(self, m: Heartbeat) -> None:
        if m.commit > self.log.last_index():
            self.counters.malformed += 1
            return
        self.log.commit_to(m.commit)
        self.msgs.append(HeartbeatResponse(m.frm, self.id, self.term, m.ctx))

    def _handle_snapshot(self, m: InstallSnapshot) -> None:
        if m.snapshot.is_empty:
            self.counters.malformed += 1
            return
        index = self.log.last_index() if self._restore(m.snapshot) else self.log.committed
        self.msgs.append(AppendResponse(m.frm, self.id, self.term, index))

    def _restore(self, snapshot: Snapshot) -> bool:
        meta = snapshot.meta
        if meta.index <= self.log.committed:
            return False
        if self.log.match_term(meta.index, meta.term):
            # We hold the snapshot's last entry already: just fast-forward the commit.
            self.log.commit_to(meta.index)
            return False
        self.log.restore(snapshot)
        self.tracker = ProgressTracker(meta.conf_state.voters, self.config.max_inflight)
        return True

    # -- leader side of replication -----------------------------------------------------------

    def _append(self, entries: list[Entry]) -> None:
        last = self.log.append(entries)
        self.tracker.progress[self.id].maybe_update(last)
        if len(self.tracker.voters) == 1:
            self._maybe_commit()
        self.bcast_pending = True

    def _maybe_commit(self) -> bool:
        if not self.log.maybe_commit(self.tracker.committed(), self.term):
            return False
        if self.pending_reads and self._committed_in_term():
            pending, self.pending_reads = self.pending_reads, []
            for ctx, frm in pending:
                self._confirm_read(ctx, frm)
        return True

    def _committed_in_term(self) -> bool:
        return self.log.zero_term_on_out_of_bounds(self.log.committed) == self.term

    def flush(self) -> None:
        """Send the appends deferred by proposals and commits, one per follower."""
        if self.bcast_pending:
            self.bcast_pending = False
            if self.role is _LEADER:
                for node in self.tracker.progress:
                    if node != self.id:
                        self.send_append(node, quiet_if_empty=True)

    def send_append(
        self, to: int, send_if_empty: bool = True, quiet_if_empty: bool = False
    ) -> bool:
        """`quiet_if_empty`: an append without entries to a follower in replicate state only
        announces the commit index, and an accepting follower does not answer it. Elsewhere
        (probes, a heartbeat answer from a lagging follower) the answer is what is wanted."""
        pr = self.tracker.progress[to]
        if pr.is_paused():
            return False
        log = self.log
        prev = pr.next - 1
        try:
            log_term = log.term(prev)
            entries = log.entries(pr.next, self.config.max_size_per_msg)
        except Compacted:
            return self._send_snapshot(to, pr)
        if not entries and not send_if_empty:
            return False
        quiet = quiet_if_empty and not entries and pr.state is _REPLICATE
        self.msgs.append(
            AppendEntries(
                to, self.id, self.term, prev, log_term, tuple(entries), log.committed, quiet
            )
        )
        pr.sent_entries(len(entries), prev + len(entries))
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            # No point shipping a snapshot to a node that may be down.
            return False
        snapshot = self.log.snapshot()
        if snapshot.is_empty:
            raise RaftInvariantError(f"log compacted below {pr.next} but no snapshot exists")
        pr.become_snapshot(snapshot.meta.index)
        self.msgs.append(InstallSnapshot(to, self.id, self.term, snapshot))
        return True

    def _send_heartbeat(self, to: int, ctx: bytes) -> None:
        commit = min(self.tracker.progress[to].match, self.log.committed)
        self.msgs.append(Heartbeat(to, self.id, self.term, commit, ctx))

    def _bcast_heartbeat(self, ctx: bytes | None) -> None:
        if ctx is None:
            ctx = self.read_only.last_pending_ctx() or b""
        for node in self.tracker.progress:
            if node != self.id:
                self._send_heartbeat(node, ctx)

    def _handle_append_response(self, m: AppendResponse) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is None:
            self.counters.unknown_sender += 1
            return
        log = self.log
        if not m.reject and m.index > log.last_index():
            self.counters.malformed += 1
            return
        pr.recent_active = True
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe = log.find_conflict_by_term(m.reject_hint, m.log_term)[0]
            if pr.maybe_decr_to(m.index, next_probe):
                if pr.state is _REPLICATE:
                    pr.become_probe()
                self.send_append(m.frm)
            return
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT:
            if pr.match + 1 >= log.first_index():
                pr.become_probe()
                pr.become_replicate()
        else:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            self.bcast_pending = True
        elif was_paused:
            self.send_append(m.frm)
        while self.send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self.lead_transferee and pr.match == log.last_index():
            self.msgs.append(TimeoutNow(m.frm, self.id, self.term))

    def _handle_heartbeat_response(self, m: HeartbeatResponse) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is None:
            self.counters.unknown_sender += 1
            return
        pr.recent_active = True
        pr.msg_app_flow_paused = False
        if pr.state is _REPLICATE and pr.inflights.full():
            # The oldest append may have been lost: free its slot so one append goes out per
            # heartbeat round; a gap makes the follower reject and we fall back to probing.
            pr.inflights.free_first_one()
        if pr.match < self.log.last_index():
            self.send_append(m.frm)
        if not m.ctx:
            return
        acks = self.read_only.recv_ack(m.frm, m.ctx)
        if acks is None:
            return
        if vote_result(self.tracker.voters, dict.fromkeys(acks, True)) is VoteResult.WON:
            for request in self.read_only.advance(m.ctx):
                self._answer_read(request)

    # -- proposals ----------------------------------------------------------------------------

    def propose(self, data: bytes, kind: EntryKind = _NORMAL) -> None:
        """A local proposal: appended on the leader, forwarded by a follower."""
        if self.role is _LEADER:
            self._leader_propose(((kind, data),))
        elif self.lead == NONE:
            raise ProposalDropped("no leader")
        else:
            self.msgs.append(Propose(self.lead, self.id, 0, (Entry(0, 0, kind, data),)))

    def propose_conf_change(self, cc: ConfChange) -> None:
        check(self.tracker.voters, cc)
        self.propose(encode_conf_change(cc), EntryKind.CONF_CHANGE)

    def _leader_propose(self, proposed: tuple[tuple[EntryKind, bytes], ...]) -> None:
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership transfer to {self.lead_transferee} in progress")
        size = 0
        for _kind, data in proposed:
            size += len(data)
        limit = self.config.max_uncommitted_bytes
        if limit and self.uncommitted_size and self.uncommitted_size + size > limit:
            raise ProposalDropped(f"uncommitted entries exceed {limit} bytes")
        index = self.log.last_index()
        term = self.term
        pending_conf = self.pending_conf_index
        entries = []
        for kind, data in proposed:
            index += 1
            if kind is EntryKind.CONF_CHANGE:
                if pending_conf > self.log.applied:
                    raise ProposalDropped("a configuration change is already pending")
                pending_conf = index
            entries.append(Entry(term, index, kind, data))
        self.pending_conf_index = pending_conf
        self.uncommitted_size += size
        self._append(entries)

    def reduce_uncommitted_size(self, entries: tuple[Entry, ...]) -> None:
        if self.role is _LEADER and self.uncommitted_size:
            size = 0
            for entry in entries:
                size += len(entry.data)
            self.uncommitted_size = max(0, self.uncommitted_size - size)

    # -- reads --------------------------------------------------------------------------------

    def read_index(self, ctx: bytes) -> None:
        if self.role is _LEADER:
            self._leader_read_index(ctx, NONE)
        elif self.lead == NONE:
            raise NotLeader("no leader to confirm a read")
        else:
            self.msgs.append(ReadIndexRequest(self.lead, self.id, 0, ctx))

    def _leader_read_index(self, ctx: bytes, frm: int) -> None:
        if self.tracker.voters == (self.id,):
            self._answer_read(ReadRequest(ctx, frm, self.log.committed))
        elif not self._committed_in_term():
            # Our commit index is only known to be current once an entry of our term commits.
            self.pending_reads.append((ctx, frm))
        else:
            self._confirm_read(ctx, frm)

    def _confirm_read(self, ctx: bytes, frm: int) -> None:
        if not self.read_only.add_request(self.log.committed, ctx, frm):
            self.counters.dropped_reads += 1
            return
        self.read_only.recv_ack(self.id, ctx)
        self._bcast_heartbeat(ctx)

    def _answer_read(self, request: ReadRequest) -> None:
        if request.frm in (NONE, self.id):
            self.read_states.append(ReadState(request.index, request.ctx))
        else:
            self.msgs.append(
                ReadIndexResponse(request.frm, self.id, self.term, request.index, request.ctx)
            )

    # -- leadership transfer ------------------------------------------------------------------

    def transfer_leader(self, transferee: int) -> None:
        if transferee not in self.tracker.voters:
            raise ConfigError(f"{transferee} is not a voter")
        if self.role is _LEADER:
            self._transfer_to(transferee)
        elif self.lead == NONE:
            raise NotLeader("no leader to transfer leadership from")
        else:
            self.msgs.append(TransferLeader(self.lead, self.id, 0, transferee))

    def _transfer_to(self, transferee: int) -> None:
        if transferee == self.id or transferee == self.lead_transferee:
            return
        self.lead_transferee = transferee
        # The transfer is abandoned if it has not happened within an election timeout.
        self.election_elapsed = 0
        pr = self.tracker.progress[transferee]
        if pr.match == self.log.last_index():
            self.msgs.append(TimeoutNow(transferee, self.id, self.term))
        else:
            self.send_append(transferee)

    # -- local reports ------------------------------------------------------------------------

    def report_unreachable(self, node: int) -> None:
        pr = self.tracker.progress.get(node) if self.role is _LEADER else None
        if pr is not None and pr.state is _REPLICATE:
            pr.become_probe()

    def report_snapshot(self, node: int, ok: bool) -> None:
        pr = self.tracker.progress.get(node) if self.role is _LEADER else None
        if pr is None or pr.state is not ProgressState.SNAPSHOT:
            return
        if not ok:
            pr.pending_snapshot = 0
        pr.become_probe()
        # Wait for the follower's answer (or the next heartbeat) before probing again.
        pr.msg_app_flow_paused = True

    # -- membership ---------------------------------------------------------------------------

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        voters = apply_simple(self.tracker.voters, cc)
        self.tracker.voters = voters
        if self.role is not _LEADER:
            return ConfState(voters)
        progress = self.tracker.progress
        if cc.kind is ConfChangeKind.ADD and cc.node_id not in progress:
            pr = Progress(0, self.log.last_index() + 1, self.config.max_inflight)
            # A new node counts as active, or check-quorum could depose us right away.
            pr.recent_active = True
            progress[cc.node_id] = pr
            self.send_append(cc.node_id)
        elif cc.node_id not in voters:
            progress.pop(cc.node_id, None)
        if self.id not in voters:
            self.become_follower(self.term, NONE)
            return ConfState(voters)
        if self.lead_transferee not in voters:
            self.lead_transferee = NONE
        if self._maybe_commit():
            self.bcast_pending = True
        return ConfState(voters)

    def bootstrap(self, peers: list[ConfChange]) -> None:
        """Start a new cluster: the initial members become committed conf change entries at
        term 1, identical on every founding node, so a later joiner replays them too."""
        if self.log.last_index() != 0 or self.term != 0:
            raise ConfigError("bootstrap needs empty storage")
        if not peers:
            raise ConfigError("bootstrap needs at least one peer")
        if any(cc.kind is not ConfChangeKind.ADD or cc.node_id == NONE for cc in peers):
            raise ConfigError("bootstrap peers must be ADD changes of non-zero node ids")
        if len({cc.node_id for cc in peers}) != len(peers):
            raise ConfigError("bootstrap peers must be distinct")
        self.become_follower(1, NONE)
        entries = [
            Entry(1, i, EntryKind.CONF_CHANGE, encode_conf_change(cc))
            for i, cc in enumerate(peers, start=1)
        ]
        self.log.append(entries)
        self.log.committed = len(entries)
        for cc in peers:
            self.apply_conf_change(cc)

    def check_invariants(self) -> None:
        """Raise if the log bookkeeping is inconsistent (used by tests and the simulator)."""
        log = self.log
        if not log.applied <= log.committed <= log.last_index():
            raise RaftInvariantError(
                f"applied {log.applied} <= committed {log.committed} <= last "
                f"{log.last_index()} does not hold"
            )
        try:
            log.term(log.committed)
        except (Compacted, Unavailable) as exc:
            raise RaftInvariantError(f"committed index {log.committed} not in log") from exc
