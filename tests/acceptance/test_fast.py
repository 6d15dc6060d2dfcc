"""The fast subset of the acceptance tier (in the default run): one non-TLS deployment, rolled
under the spammer, scaled 3 -> 5 -> 3, and an instance restarted while partitioned. Pass marks
stricter than EATS: no acknowledged write lost, at most one failed write per instance restart,
K readable after every step, the member list equal to the live instances."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.acceptance.harness import Director, Manifest, member_name
from tests.acceptance.spammer import Spammer

pytestmark = pytest.mark.timeout(600)
THREE = Manifest(instances=3)
K, V = "acceptance-k", "kept"
CUT_FOR = 5.0  # seconds the restarted instance stays cut off


def converge(director: Director, manifest: Manifest) -> None:
    """Deploys `manifest` (a no-op when already there, as after the test before) with K."""
    fresh = not director.vms
    director.deploy(manifest, after_each=None if fresh else lambda _: check_k(director))
    if fresh:
        director.put(K, V)


def check_k(director: Director) -> None:
    for index in director.live():
        assert director.get(K, index) == V, f"K unreadable on instance {index}"


def check_members(director: Director) -> None:
    want = {member_name(director.vms[i].instance) for i in director.live()}
    for index in director.live():
        assert set(director.members(index)) == want, index


def test_deploy_and_rolling_redeploy(director: Director, report: Callable[[str], None]) -> None:
    director.deploy(THREE)
    director.put(K, V)
    check_members(director)
    ids = director.members(0)
    with Spammer(director, "roll") as spammer:
        director.deploy(THREE.with_etcd(heartbeat_interval_in_milliseconds=51),
                        after_each=lambda _: check_k(director))  # fmt: skip
    figures = spammer.figures()
    report(figures.line())
    figures.check()
    assert figures.restarts == 3, "heartbeat 50 -> 51 restarts every instance"
    assert director.members(2) == ids, "a rolling deploy keeps every member"
    director.one_cluster()


def test_scale_3_to_5_to_3(director: Director, report: Callable[[str], None]) -> None:
    converge(director, THREE)
    base = director.manifest
    assert base is not None
    with Spammer(director, "scale") as spammer:
        for count in (5, 3):
            director.deploy(Manifest(count, etcd=base.etcd), after_each=lambda _: check_k(director))
            assert director.live() == list(range(count))
            check_members(director)
            check_k(director)
    figures = spammer.figures()
    report(figures.line())
    figures.check()
    director.one_cluster()


def test_partitioned_restart_then_heal_is_one_cluster(
    director: Director, report: Callable[[str], None]
) -> None:
    """etcd-release's consistency-checker scenario: the cut-off instance restarts and cannot
    reach its peers (its post-start keeps waiting); once healed, it is a member of the one
    cluster again, not the founder of a second one, and its post-start passes."""
    converge(director, THREE)
    cut = 1
    cluster = director.one_cluster()
    with Spammer(director, "partition") as spammer, ThreadPoolExecutor(1) as pool:
        director.isolate(cut)
        try:
            log = director.vms[cut].root / "sys/log/etcd/etcd.stderr.log"
            seen = len(log.read_text())
            director.restart(cut, post_start=False)
            post_start = pool.submit(director.vms[cut].step, "/var/vcap/jobs/etcd/bin/post-start")
            time.sleep(CUT_FOR)
            assert not post_start.done(), "post-start passed while the instance was cut off"
            started = log.read_text()[seen:]
            assert "restarting it as it is" in started, started
            assert "(founding it)" not in started and "lifecycle: found:" not in started
        finally:
            director.heal()
        post_start.result()
        check_k(director)
    figures = spammer.figures()
    report(figures.line())
    figures.check()
    assert director.one_cluster() == cluster
    report(f"partition: one cluster {cluster}, one leader after the heal")
    check_members(director)
