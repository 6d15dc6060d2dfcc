"""The pure parts of the faults tier: schedules, partition rules, answer classification (these
run without root)."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.faults import fuzz, nemesis, netns
from tests.faults.netns import GID_BASE, cut_rules
from tests.faults.workload import classify
from tests.lincheck.history import Kind, Outcome


@pytest.mark.parametrize("size", [3, 5])
def test_a_seed_gives_one_schedule_of_disjoint_faults_within_the_run(size: int) -> None:
    schedule = nemesis.plan(42, size, 20.0)
    assert schedule == nemesis.plan(42, size, 20.0)
    assert schedule != nemesis.plan(43, size, 20.0)
    assert len(schedule) >= 3
    for before, after in itertools.pairwise(schedule):
        assert before.at + before.duration < after.at
    assert schedule[-1].at + schedule[-1].duration <= 19.0
    for fault in schedule:
        members = [i for group in fault.groups for i in group]
        assert len(members) == len(set(members)) and set(members) <= set(range(size))
        if fault.kind in ("kill", "pause"):
            assert 1 <= len(members) <= (size - 1) // 2, "never more than a minority down"
        elif fault.kind == "membership":
            assert len(members) == 1
        else:
            assert sorted(members) == list(range(size))


def test_every_fault_kind_shows_up_over_twenty_seeds() -> None:
    kinds = {f.kind for seed in range(20) for f in nemesis.plan(seed, 5, 20.0)}
    assert kinds == set(nemesis.ALL)
    only = {f.kind for f in nemesis.plan(1, 3, 20.0, kinds=("kill",))}
    assert only == {"kill"}


def test_partitions_cut_the_right_connections() -> None:
    halves = nemesis.Fault(0, 1, "halves", ((0,), (1, 2)))
    assert nemesis.cut_pairs(halves) == {(0, 1), (0, 2), (1, 0), (2, 0)}
    bridge = nemesis.Fault(0, 1, "bridge", ((0, 1), (2, 3), (4,)))
    assert (0, 4) not in nemesis.cut_pairs(bridge) and (4, 3) not in nemesis.cut_pairs(bridge)
    assert {(0, 2), (3, 1)} <= nemesis.cut_pairs(bridge)
    one_way = nemesis.Fault(0, 1, "one-way", ((1,), (0, 2)))
    assert nemesis.cut_pairs(one_way) == {(1, 0), (1, 2)}
    with pytest.raises(ValueError):
        nemesis.cut_pairs(nemesis.Fault(0, 1, "kill", ((0,),)))


def test_a_cut_rule_names_the_opener_group_and_the_target_address() -> None:
    (rule,) = cut_rules([(1, 2)])
    assert rule[rule.index("--mark") + 1] == str(GID_BASE + 1)
    assert rule[rule.index("--ctorigdst") + 1] == "127.0.0.13"


@pytest.mark.parametrize(
    ("kind", "status", "body", "expected"),
    [
        (Kind.READ, 200, {"node": {"value": "v"}}, (Outcome.OK, "v")),
        (Kind.READ, 404, {"errorCode": 100}, (Outcome.OK, None)),
        (Kind.READ, 500, {"errorCode": 300}, (Outcome.FAIL, None)),
        (Kind.WRITE, 201, {"node": {}}, (Outcome.OK, None)),
        (Kind.WRITE, 500, {"message": "etcdserver: request timed out"}, (Outcome.UNKNOWN, None)),
        (Kind.CAS, 200, {"node": {}}, (Outcome.OK, True)),
        (Kind.CAS, 412, {"errorCode": 101}, (Outcome.OK, False)),
        (Kind.CAS, 404, {"errorCode": 100}, (Outcome.OK, False)),
        (Kind.CAS, 503, None, (Outcome.UNKNOWN, None)),
    ],
)
def test_answers_are_classified_as_a_checker_must_read_them(
    kind: Kind, status: int, body: object, expected: tuple[Outcome, object]
) -> None:
    assert classify(kind, status, body) == expected


def test_fuzz_sessions_are_seeded_and_cover_every_kind() -> None:
    def sessions(seed: int) -> list[tuple[str, bytes]]:
        rng = random.Random(seed)
        return [fuzz.session(rng, 7, [1, 2, 3], 2) for _ in range(60)]

    assert sessions(1) == sessions(1)
    assert {kind for kind, _ in sessions(1)} == set(fuzz.KINDS)
    valid = next(payload for kind, payload in sessions(1) if kind == "valid")
    assert all(p != valid for kind, p in sessions(1) if kind in ("flipped", "truncated"))


def test_without_root_the_tier_says_why_it_did_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.why_not() == "needs root (a network namespace and iptables inside it)"
