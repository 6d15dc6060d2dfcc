"""The rest of the acceptance tier (`PYETCD_ACCEPTANCE=full`, scripts/acceptance), each scenario
on a deployment of its own, TLS and non-TLS unless it says otherwise, with the same pass marks as
the fast subset."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator

import pytest

from tests.acceptance.conftest import FULL, Flavor
from tests.acceptance.harness import Director, Manifest, Release, tls_vars
from tests.acceptance.spammer import Spammer
from tests.acceptance.steps import K, V, check_k, check_members, converge, each, judge, scale
from tests.oldbuild import old_build

WHY_SKIPPED = "NOT RUN: the full acceptance tier needs PYETCD_ACCEPTANCE=full (scripts/acceptance)"
pytestmark = [pytest.mark.skipif(not FULL, reason=WHY_SKIPPED), pytest.mark.timeout(600)]
# The previous release version: the release branch as merged (no split-brain detector yet).
PREVIOUS = "c805f91"
RECOVER_WITHIN = 10.0  # EATS's kill-VM marks: K readable and a write accepted this fast
POLL = 1.0  # each request's timeout while measuring that
TRIP_WITHIN = 30.0


def test_single_instance_redeploy_keeps_k(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    converge(fresh, flavor, 1)
    (member,) = fresh.members(0).values()
    fresh.deploy(flavor.manifest(1, etcd={"heartbeat_interval_in_milliseconds": 51}), each(fresh))
    check_k(fresh)
    assert list(fresh.members(0).values()) == [member], "the one member kept its identity"
    report(f"single instance ({flavor.name}): K kept across a redeploy, member {member} kept")


def test_scale_1_to_3_to_1(fresh: Director, flavor: Flavor, report: Callable[[str], None]) -> None:
    scale(fresh, flavor, (1, 3, 1), report)


def test_rename_with_migrated_from(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    converge(fresh, flavor, 3)
    before = fresh.members(0)
    renamed = flavor.manifest(3, group="new_etcd", migrated_from=("etcd",))
    with Spammer(fresh, f"rename-{flavor.name}") as spammer:
        fresh.deploy(renamed, each(fresh))
    judge(spammer, report)
    after = fresh.members(0)
    assert sorted(after) == ["new-etcd-0", "new-etcd-1", "new-etcd-2"]
    assert [after[f"new-etcd-{i}"] for i in range(3)] == [before[f"etcd-{i}"] for i in range(3)]
    check_members(fresh)
    fresh.one_cluster()


@pytest.mark.parametrize("flavor", ["tls"], indirect=True)
def test_three_step_certificate_rotation(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    """etcd-release's rotation: append the new CAs; new leaf certificates from them; drop the
    old CAs. Every step rolls every member under the spammer."""
    assert flavor.tls is not None
    old, new = flavor.tls, tls_vars(fresh.base, "rotated")
    both = {k: old[k] + new[k] for k in ("etcd_ca_cert", "etcd_peer_ca_cert")}
    steps = [{**old, **both}, {**new, **both}, new]
    converge(fresh, flavor, 3)
    with Spammer(fresh, "rotation") as spammer:
        for step in steps:
            fresh.deploy(Manifest(3, tls=step), each(fresh))
    figures = judge(spammer, report)
    assert figures.restarts == 9, "each of the three deploys rolls every member"
    served = (fresh.vms[0].root / "jobs/etcd/config/certs/server-ca.crt").read_text()
    assert served == new["etcd_ca_cert"]
    fresh.one_cluster()


def test_kill_the_leaders_vm_and_resurrect(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    converge(fresh, flavor, 3)
    leader = fresh.leader_index()
    fresh.kill_vm(leader)
    killed = time.monotonic()
    _within(RECOVER_WITHIN, lambda: fresh.get(K, timeout=POLL) == V)
    readable = time.monotonic() - killed
    _within(RECOVER_WITHIN - readable, lambda: fresh.put("acceptance-k2", "2", POLL) is None)
    written = time.monotonic() - killed
    fresh.resurrect(leader)
    check_k(fresh)
    assert fresh.get("acceptance-k2", leader) == "2"
    check_members(fresh)
    fresh.one_cluster()
    report(f"kill leader ({flavor.name}): instance {leader} killed; K read after {readable:.1f}s,"
           f" K2 written after {written:.1f}s; resurrected, one cluster")  # fmt: skip


def test_quorum_loss_then_one_resurrected(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    converge(fresh, flavor, 5)
    leader = fresh.leader_index()
    killed = [(leader + offset) % 5 for offset in range(3)]  # consecutive, the leader among them
    for index in killed:
        fresh.kill_vm(index)
    middle = killed[1]
    fresh.resurrect(middle)
    check_k(fresh)
    fresh.put("acceptance-k2", "after-quorum-loss")
    assert fresh.get("acceptance-k2") == "after-quorum-loss"
    for index in (killed[0], killed[2]):
        fresh.resurrect(index)
    check_k(fresh)
    fresh.one_cluster()
    report(f"quorum loss ({flavor.name}): killed {killed} (leader {leader}), resurrected {middle}:"
           " old K read, new key written")  # fmt: skip


def test_forced_split_brain_trips_every_detector(
    fresh: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    """Two clusters on purpose: the bootstrap instance, cut off, has its whole store wiped (the
    recipe for rebuilding a lost cluster, run on one instance only) and founds a cluster of its
    own; after the heal every instance's /health must say so within 30 s."""
    converge(fresh, flavor, 3)
    vm = fresh.vms[0]
    fresh.isolate(0)
    try:
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd")
        fresh.down.add(0)
        shutil.rmtree(vm.root / "store/etcd")
        vm.step("/var/vcap/jobs/etcd/bin/pre-start")
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "start", "etcd")
        fresh.down.discard(0)
        _within(30.0, lambda: fresh.members(0).keys() == {"etcd-0"})
    finally:
        fresh.heal()
    healed = time.monotonic()
    reasons: dict[int, str] = {}
    last: dict[int, object] = {}

    def all_tripped() -> bool:
        for index in range(3):
            with contextlib.suppress(OSError):
                reply = last[index] = fresh.health(index)
                if reply.status == 503 and "split brain" in str(reply.body):
                    reasons.setdefault(index, str(reply.body))
        return len(reasons) == 3

    try:
        _within(TRIP_WITHIN, all_tripped)
    except AssertionError:
        raise AssertionError(f"tripped: {reasons}; /health: {last}\n{fresh.logs()}") from None
    report(f"split brain ({flavor.name}): every detector tripped within "
           f"{time.monotonic() - healed:.1f}s: {reasons[1][:160]}")  # fmt: skip


@pytest.fixture(scope="module")
def previous() -> Iterator[Release]:
    """The previous release version: that commit's release/ job and its pyetcd package."""
    with old_build(PREVIOUS, "the previous release") as (source, venv):
        yield Release(source / "release/jobs/etcd", venv / "bin")


def test_rolling_upgrade_from_the_previous_release(
    fresh: Director, flavor: Flavor, previous: Release, report: Callable[[str], None]
) -> None:
    """EATS's rolling upgrade: 3 instances of the previous release version, K, then this
    version rolled over them one at a time under the spammer."""
    fresh.deploy(flavor.manifest(3, release=previous))
    fresh.put(K, V)
    before = fresh.members(0)
    with Spammer(fresh, f"upgrade-{flavor.name}") as spammer:
        fresh.deploy(flavor.manifest(3), each(fresh))
    figures = judge(spammer, report)
    assert figures.restarts == 3
    assert fresh.members(0) == before, "the upgrade keeps every member"
    for vm in fresh.vms.values():
        assert str(previous.bin) not in (vm.root / "packages/pyetcd/bin/pyetcd").read_text()
    fresh.one_cluster()
    report(f"upgrade ({flavor.name}): {PREVIOUS} -> this checkout, members kept, one cluster")


def _within(seconds: float, ok: Callable[[], bool], what: str = "") -> None:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except (AssertionError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:.1f}s: {what or last}")
