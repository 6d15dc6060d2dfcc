"""A real deploy from the rendered templates: 3 instances (canary first, then one at a time),
a rolling update of all three, and scaling, each instance on its own loopback address in a
network namespace with its own /var/vcap. Keys written before are read back after."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.release.bosh import RUBY, context, group, job_properties, manifest, render
from tests.release.deploy import Deployment, Netns, StepFailed, Vm, can_namespace
from tls import certtool

WHY_NOT = can_namespace() or ("needs ruby" if RUBY is None else None)
pytestmark = [
    pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the deploy tier {WHY_NOT}"),
    pytest.mark.timeout(240),
]
ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def _properties(doc: dict[str, Any]) -> dict[str, Any]:
    """The manifest's etcd properties, with short diagnostics for the test."""
    props = job_properties(doc)
    props["etcd"].update(
        network_diagnostics_duration_in_seconds=2, post_start_timeout_in_seconds=60
    )
    return props


def _tls_manifest(tmp_path: Path) -> dict[str, Any]:
    """operations/tls.yml with the vars file `pyetcd-certs bosh-vars` writes (addresses as
    SANs: TLS without DNS names)."""
    path = tmp_path / "etcd-tls-vars.yml"
    argv = ["bosh-vars", "--output", str(path), "--ip", ",".join(ADDRESSES), "--key-type", "ecdsa"]
    assert certtool.main(argv) == 0
    return manifest("tls.yml", variables=yaml.safe_load(path.read_text()))


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """`plain`: manifests/pyetcd.yml; `tls`: with operations/tls.yml and its vars."""
    doc = manifest() if request.param == "plain" else _tls_manifest(tmp_path)
    with Netns() as netns:
        deployment = Deployment(netns, tmp_path, _properties(doc))
        try:
            yield deployment
        finally:
            deployment.stop_all()


def _members(deployment: Deployment, index: int = 0) -> list[str]:
    body = deployment.vms[index].client("GET", "/v2/members")
    return sorted(m["name"] for m in body["members"])


def _value(deployment: Deployment, index: int, key: str) -> str:
    body = deployment.vms[index].client("GET", f"/v2/keys/{key}?quorum=true")
    return body["node"]["value"]


@pytest.mark.parametrize("deployment", ["plain"], indirect=True)
def test_deploy_three_then_rolling_update_keeps_data(deployment: Deployment) -> None:
    instances = group("etcd", ADDRESSES)
    deployment.deploy(instances)
    assert _members(deployment) == ["etcd-0", "etcd-1", "etcd-2"]
    deployment.vms[0].client("PUT", "/v2/keys/before", "value=kept")
    ids = {m["name"]: m["id"] for m in deployment.vms[1].client("GET", "/v2/members")["members"]}

    deployment.properties["etcd"]["heartbeat_interval_in_milliseconds"] = 51  # as EATS does
    for index, instance in enumerate(instances):
        vm = deployment.vm(instance)
        assert deployment.drain_and_stop(vm, persistent_disk=1024) == "0"
        other = (index + 1) % 3
        deployment.vms[other].client("PUT", f"/v2/keys/during-{index}", "value=v")
        deployment.create(vm, instances)

    after = {m["name"]: m["id"] for m in deployment.vms[2].client("GET", "/v2/members")["members"]}
    assert after == ids, "a rolling update must keep every member (no leave, no re-add)"
    for index in range(3):
        assert _value(deployment, index, "before") == "kept"
        for written in range(3):
            assert _value(deployment, index, f"during-{written}") == "v"
    log = (deployment.vms[0].root / "sys/log/etcd/network_diagnostics.log").read_text()
    assert "etcd-1" in log
    drains = [
        (vm.root / "sys/log/etcd/drain.stderr.log").read_text() for vm in deployment.vms.values()
    ]
    daemons = [
        (vm.root / "sys/log/etcd/etcd.stderr.log").read_text() for vm in deployment.vms.values()
    ]
    assert any("lifecycle: handed leadership off" in log for log in drains), (
        "a drain met the leader"
    )
    assert any("leadership transferred from" in log for log in daemons)
    assert not any("removed member" in log for log in drains)


@pytest.mark.parametrize("deployment", ["tls"], indirect=True)
def test_scale_down_then_up_under_a_new_name(deployment: Deployment) -> None:
    """3 -> 2 (the deleted instance leaves in its drain), then 2 -> 3 while the group is renamed
    (migrated_from): the two kept instances restart with their data and member ids under their
    new names, the new one joins."""
    deployment.deploy(group("etcd", ADDRESSES))
    deployment.vms[0].client("PUT", "/v2/keys/k", "value=1")
    assert deployment.delete(2) == "0"
    kept = {m["name"]: m["id"] for m in deployment.vms[0].client("GET", "/v2/members")["members"]}
    assert sorted(kept) == ["etcd-0", "etcd-1"]
    deployment.deploy(group("new_etcd", ADDRESSES))
    after = {m["name"]: m["id"] for m in deployment.vms[2].client("GET", "/v2/members")["members"]}
    assert sorted(after) == ["new-etcd-0", "new-etcd-1", "new-etcd-2"]
    assert after["new-etcd-0"] == kept["etcd-0"] and after["new-etcd-1"] == kept["etcd-1"]
    assert _value(deployment, 2, "k") == "1"


@pytest.mark.parametrize("deployment", ["plain"], indirect=True)
def test_lost_data_and_nobody_answering_never_founds(deployment: Deployment) -> None:
    """The bootstrap instance that lost its data while its peers are unreachable waits (and
    post-start fails) instead of founding a second cluster; wiping the whole store on purpose,
    etcd-release's recovery recipe, still rebuilds the cluster."""
    (instance,) = group("etcd", ADDRESSES[:1])
    deployment.deploy([instance])
    vm = deployment.vms[0]
    vm.client("PUT", "/v2/keys/k", "value=1")
    assert deployment.drain_and_stop(vm, persistent_disk=1024) == "0"
    shutil.rmtree(vm.root / "store/etcd/member")
    deployment.properties["etcd"]["post_start_timeout_in_seconds"] = 4
    with pytest.raises(StepFailed, match=r"within 4s.*the start says: wait: .* hosted a member"):
        deployment.create(vm, [instance])
    log = (vm.root / "sys/log/etcd/etcd.stderr.log").read_text()
    assert "this disk has hosted a member before" in log
    before, after = log.split("this disk has hosted a member before", 1)
    assert "lifecycle: found:" in before, "the first deploy founded the cluster"
    assert "lifecycle: found:" not in after and "(founding it)" not in after
    vm.step("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd")
    for path in (vm.root / "store/etcd").iterdir():  # rm -rf /var/vcap/store/etcd/*
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    deployment.properties["etcd"]["post_start_timeout_in_seconds"] = 60
    deployment.create(vm, [instance])
    assert vm.client("GET", "/v2/members")["members"][0]["name"] == "etcd-0"


@pytest.mark.skipif(shutil.which("etcd") is None, reason="NOT RUN: real etcd missing")
def test_real_etcd_serves_the_rendered_config(tmp_path: Path) -> None:
    """config/etcd.yml is etcd 3.4's own config-file format: real etcd serves it as rendered."""
    (instance,) = group("etcd", ADDRESSES[:1])
    pool = ThreadPoolExecutor(1)
    members = None
    try:
        with Netns() as netns:  # leaving it kills what runs inside, this etcd included
            vm = Vm(netns, instance, tmp_path / "vm")
            vm.prepare()
            render(context(instance, [instance], _properties(manifest())), vm.root / "jobs/etcd")
            etcd = pool.submit(
                vm.run, "timeout", "20", "etcd", "--config-file",
                "/var/vcap/jobs/etcd/config/etcd.yml", timeout=30,
            )  # fmt: skip
            deadline = time.monotonic() + 20
            while members is None and time.monotonic() < deadline and not etcd.done():
                with contextlib.suppress(StepFailed):
                    members = vm.client("GET", "/v2/members")["members"]
                time.sleep(0.2)
    finally:
        pool.shutdown(wait=True)
    assert members is not None, "real etcd did not serve the rendered config"
    assert [m["name"] for m in members] == ["etcd-0"]
    assert members[0]["clientURLs"] == ["http://127.0.0.1:4001"]
