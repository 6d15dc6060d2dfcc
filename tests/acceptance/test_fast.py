"""The fast subset of the acceptance tier (in the default run): one deployment, rolled under the
spammer, scaled 3 -> 5 -> 3, and an instance restarted while partitioned. Pass marks stricter
than EATS: no acknowledged write lost, at most one failed write per instance restart, K readable
after every step, the member list equal to the live instances."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.acceptance.conftest import Flavor
from tests.acceptance.harness import Director
from tests.acceptance.spammer import Spammer
from tests.acceptance.steps import K, V, check_k, check_members, converge, each, judge, scale

pytestmark = pytest.mark.timeout(600)
CUT_FOR = 5.0  # seconds the restarted instance stays cut off


def test_deploy_and_rolling_redeploy(
    director: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    three = flavor.manifest(3)
    director.deploy(three)
    director.put(K, V)
    check_members(director)
    ids = director.members(0)
    with Spammer(director, f"roll-{flavor.name}") as spammer:
        director.deploy(three.with_etcd(heartbeat_interval_in_milliseconds=51), each(director))
    assert judge(spammer, report).restarts == 3, "heartbeat 50 -> 51 restarts every instance"
    assert director.members(2) == ids, "a rolling deploy keeps every member"
    director.one_cluster()


def test_scale_3_to_5_to_3(
    director: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    scale(director, flavor, (3, 5, 3), report)


def test_partitioned_restart_then_heal_is_one_cluster(
    director: Director, flavor: Flavor, report: Callable[[str], None]
) -> None:
    """etcd-release's consistency-checker scenario: the cut-off instance restarts and cannot
    reach its peers (its post-start keeps waiting); once healed, it is a member of the one
    cluster again, not the founder of a second one, and its post-start passes."""
    converge(director, flavor, 3)
    cut = 1
    cluster = director.one_cluster()
    with Spammer(director, f"partition-{flavor.name}") as spammer, ThreadPoolExecutor(1) as pool:
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
    judge(spammer, report)
    assert director.one_cluster() == cluster
    report(f"partition ({flavor.name}): one cluster {cluster}, one leader after the heal")
    check_members(director)
