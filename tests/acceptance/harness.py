"""A director for the acceptance tier: deploys `release/` for N instances the way BOSH does
(render, pre-start, bpm start, post-start; drain with BOSH_JOB_NEXT_STATE; canary then one at a
time; deletes drained with `persistent_disk: 0`), on 127.0.0.(10+index) in one network
namespace, each instance with its own /var/vcap (tests/release/deploy.py's Vm) and its own
cgroup. The cgroup gives each instance what a VM has and a shared loopback lacks: its own source
address (an SNAT rule per cgroup), so that partitions are plain address rules, and a whole-VM
SIGKILL (`cgroup.kill`)."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import filecmp
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.release.bosh import JOB, RUBY, Instance, context, job_properties, manifest, render
from tests.release.deploy import TOOLS, Deployment, Netns, Vm, can_namespace
from tls import certtool

MAX_INSTANCES = 5
ADDRESSES = [f"127.0.0.{10 + i}" for i in range(MAX_INSTANCES)]
CLONE_NEWNET = 0x40000000
PARTITION_CHAIN = "ACCEPTANCE-PARTITION"
REQUEST_TIMEOUT = 2.0
KILL_WAIT = 10.0
TLS_KEYS = ("ca_cert", "server_cert", "server_key", "client_cert", "client_key",
            "peer_ca_cert", "peer_cert", "peer_key")  # fmt: skip


def cgroup_root() -> Path | None:
    """The cgroup v2 mount (the unified hierarchy), where per-instance cgroups go."""
    with open("/proc/mounts") as fh:
        for line in fh:
            _, where, kind, *_ = line.split()
            if kind == "cgroup2":
                return Path(where)
    return None


def why_not() -> str | None:
    """Why this tier cannot run here, or None: root, namespaces, ruby, cgroup v2, iptables."""
    reason = can_namespace()
    if reason is not None:
        return reason
    if RUBY is None:
        return "needs ruby (renders the templates)"
    if cgroup_root() is None:
        return "needs a cgroup v2 mount (per-instance source addresses and VM kills)"
    if shutil.which("iptables") is None:
        return "needs iptables (partitions)"
    return None


def tls_vars(out: Path, name: str) -> dict[str, str]:
    """A fresh set of TLS material from `pyetcd-certs bosh-vars`, SANs the instances'
    addresses, as the `etcd_*` variables of operations/tls.yml."""
    path = out / f"{name}-vars.yml"
    argv = ["bosh-vars", "--output", str(path), "--ip", ",".join(ADDRESSES), "--key-type", "ecdsa"]
    assert certtool.main(argv) == 0
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class Release:
    """A version of the release: its etcd job and its pyetcd package's tools (a virtualenv's
    bin directory)."""

    job: Path
    bin: Path

    def install(self, vm: Vm) -> None:
        """What BOSH's package install does for the instance: /var/vcap/packages/pyetcd/bin."""
        for tool in TOOLS:
            path = vm.root / "packages/pyetcd/bin" / tool
            path.write_text(f'#!/bin/sh\nexec {self.bin / tool} "$@"\n')
            path.chmod(0o755)


@dataclass(frozen=True)
class Manifest:
    """What a deployment manifest says about the etcd instance group."""

    instances: int
    group: str = "etcd"
    tls: dict[str, str] | None = None  # the etcd_* variables of operations/tls.yml; None: plain
    migrated_from: tuple[str, ...] = ()
    etcd: dict[str, Any] = field(default_factory=dict)  # etcd.* properties set on top
    release: Release | None = None  # None: this checkout's release/ and pyetcd

    def with_etcd(self, **values: Any) -> Manifest:
        return dataclasses.replace(self, etcd={**self.etcd, **values})

    def properties(self) -> dict[str, Any]:
        doc = manifest() if self.tls is None else manifest("tls.yml", variables=self.tls)
        props = job_properties(doc)
        props["etcd"].update(network_diagnostics_duration_in_seconds=2,
                             post_start_timeout_in_seconds=60, **self.etcd)  # fmt: skip
        return props

    def instance_list(self) -> list[Instance]:
        return [Instance(self.group, i, ADDRESSES[i], i == 0) for i in range(self.instances)]


def member_name(instance: Instance) -> str:
    return f"{instance.group.replace('_', '-')}-{instance.index}"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def enter_netns(name: str) -> None:
    """Moves the calling thread into the network namespace (setns is per thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def request(vm: Vm, method: str, path: str, form: str = "",
            timeout: float = REQUEST_TIMEOUT) -> Reply:  # fmt: skip
    """One v2 request to `vm`'s client URL; run it on a thread inside the namespace. With TLS,
    the instance's current rendered client certificate and CA (they change in a rotation)."""
    certs = vm.root / "jobs/etcd/config/certs"
    crt = certs / "client.crt"
    host = vm.instance.address
    if crt.exists() and crt.stat().st_size > 0:
        ctx = ssl.create_default_context(cafile=str(certs / "server-ca.crt"))
        ctx.load_cert_chain(str(crt), str(certs / "client.key"))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, 4001, timeout=timeout, context=ctx
        )
    else:
        conn = http.client.HTTPConnection(host, 4001, timeout=timeout)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
        conn.request(method, path, body=form.encode() or None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        return Reply(response.status, dict(response.getheaders()), body)
    finally:
        conn.close()


class Director:
    """One deployment: `deploy(manifest)` converges the instances to it as BOSH does."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.netns = Netns(f"pyetcd-acc-{uuid.uuid4().hex[:8]}")
        root = cgroup_root()
        assert root is not None
        self.cgroups = root / self.netns.name
        self.deployment = Deployment(self.netns, base, {}, cgroups=self.cgroups)
        self.manifest: Manifest | None = None
        self.down: set[int] = set()  # instances whose processes are stopped or killed
        self.restarts = 0  # instance restarts and creations (the failed-write allowance)
        # (start, end) of each restart of an instance that was the deployment's only member:
        # nothing can take a write then (a 1-instance deployment updated, or 1 -> 3, 3 -> 1)
        self.outages: list[tuple[float, float]] = []
        self.pool: ThreadPoolExecutor | None = None

    # -- setup and teardown -----------------------------------------------------------------

    def __enter__(self) -> Director:
        self.netns.__enter__()
        try:
            self.cgroups.mkdir()
            for index, address in enumerate(ADDRESSES):
                path = self.cgroups / f"vm-{index}"
                path.mkdir()
                rel = path.relative_to(cgroup_root() or "/")
                self.iptables("-t", "nat", "-A", "POSTROUTING", "-m", "cgroup", "--path",
                              str(rel), "-j", "SNAT", "--to-source", address)  # fmt: skip
            self.iptables("-N", PARTITION_CHAIN)
            self.iptables("-A", "INPUT", "-j", PARTITION_CHAIN)
            self.pool = ThreadPoolExecutor(4, initializer=enter_netns,
                                           initargs=(self.netns.name,))  # fmt: skip
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for index in range(MAX_INSTANCES):
            self._kill_cgroup(index)
        self.netns.__exit__()
        for index in range(MAX_INSTANCES):
            _rmdir(self.cgroups / f"vm-{index}")
        _rmdir(self.cgroups)

    def iptables(self, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.netns.name, "iptables", "-w", *args],
                       check=True, capture_output=True, timeout=30)  # fmt: skip

    # -- requests -----------------------------------------------------------------------------

    @property
    def vms(self) -> dict[int, Vm]:
        return self.deployment.vms

    def live(self) -> list[int]:
        return sorted(i for i in self.vms if i not in self.down)

    def call(self, index: int, method: str, path: str, form: str = "",
             timeout: float = REQUEST_TIMEOUT) -> Reply:  # fmt: skip
        assert self.pool is not None
        return self.pool.submit(request, self.vms[index], method, path, form, timeout).result()

    def in_netns(self, fn: Callable[[], Any]) -> Any:
        assert self.pool is not None
        return self.pool.submit(fn).result()

    def get(self, key: str, index: int | None = None, timeout: float = 5.0) -> str:
        """`key`'s value read with quorum=true from a live instance (`index` or the first that
        answers)."""
        errors = []
        for i in [index] if index is not None else self.live():
            try:
                reply = self.call(i, "GET", f"/v2/keys/{key}?quorum=true", timeout=timeout)
            except OSError as exc:
                errors.append(f"{i}: {exc!r}")
                continue
            if reply.status == 200:
                return reply.body["node"]["value"]
            errors.append(f"{i}: {reply.status} {reply.body}")
        raise AssertionError(f"{key} unreadable: {errors}\n{self.logs()}")

    def put(self, key: str, value: str, timeout: float = 5.0) -> None:
        errors = []
        for i in self.live():
            try:
                reply = self.call(i, "PUT", f"/v2/keys/{key}", f"value={value}", timeout=timeout)
            except OSError as exc:
                errors.append(f"{i}: {exc!r}")
                continue
            if reply.status in (200, 201):
                return
            errors.append(f"{i}: {reply.status} {reply.body}")
        raise AssertionError(f"write {key} refused: {errors}\n{self.logs()}")

    def members(self, index: int) -> dict[str, str]:
        """name -> member id, as instance `index` lists them."""
        body = self.call(index, "GET", "/v2/members", timeout=5.0).body
        return {m["name"]: m["id"] for m in body["members"]}

    def leader_id(self, index: int) -> str:
        return self.call(index, "GET", "/v2/stats/self", timeout=5.0).body["leaderInfo"]["leader"]

    def leader_index(self, timeout: float = 20.0) -> int:
        """The live instance whose member leads, once every live instance agrees on it."""
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, KeyError, TypeError):
                seen = {i: self.leader_id(i) for i in self.live()}
                (leader,) = set(seen.values())
                members = self.members(self.live()[0])
                name = next(n for n, member_id in members.items() if member_id == leader)
                return next(i for i in self.live() if member_name(self.vms[i].instance) == name)
            time.sleep(0.2)
        raise AssertionError(f"no leader every live instance agrees on: {seen}\n{self.logs()}")

    def one_cluster(self, timeout: float = 30.0) -> str:
        """Exactly one cluster: every live instance reports the same cluster id and the same
        leader, which is one of its members, and lists exactly the live instances."""
        want = {member_name(self.vms[i].instance) for i in self.live()}
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, KeyError, TypeError, StopIteration):
                views = {}
                for i in self.live():
                    reply = self.call(i, "GET", "/v2/members", timeout=5.0)
                    members = {m["name"]: m["id"] for m in reply.body["members"]}
                    views[i] = (reply.headers.get("X-Etcd-Cluster-Id"), self.leader_id(i),
                                frozenset(members.items()))  # fmt: skip
                last = views
                if len(set(views.values())) == 1:
                    cluster, leader, members = next(iter(views.values()))
                    names = dict(members)
                    if set(names) == want and leader in names.values():
                        return str(cluster)
            time.sleep(0.3)
        raise AssertionError(f"not one cluster of {sorted(want)}: {last}\n{self.logs()}")

    def health(self, index: int) -> Reply:
        return self.call(index, "GET", "/health", timeout=5.0)

    # -- BOSH -------------------------------------------------------------------------------

    def deploy(self, new: Manifest, after_each: Callable[[int], None] | None = None) -> None:
        """An update: deletes instances beyond the new count (drain with persistent_disk 0,
        stop, delete the disk), then, canary first and one at a time, every instance whose
        rendered templates change (drain, stop, render, pre-start, start, post-start) and every
        new one (render, pre-start, start, post-start). `after_each(index)` runs after each."""
        if self.manifest is not None and new.group != self.manifest.group:
            assert self.manifest.group in new.migrated_from, (
                f"renaming {self.manifest.group} -> {new.group} without migrated_from loses disks"
            )
        for index in sorted(self.vms, reverse=True):
            if index >= new.instances:
                assert self.deployment.delete(index) == "0"
                self.down.discard(index)
                if after_each is not None:
                    after_each(index)
        instances = new.instance_list()
        properties = new.properties()
        self.deployment.properties = properties
        self.deployment.job = JOB if new.release is None else new.release.job
        upgrade = self.manifest is not None and new.release != self.manifest.release
        for instance in instances:
            vm = self.vms.get(instance.index)
            if vm is not None and not upgrade and not self._changed(vm, instance, instances,
                                                                    properties):  # fmt: skip
                continue
            sole = list(self.vms) == [instance.index]
            began = time.monotonic()
            vm = self.deployment.vm(instance)
            if (vm.root / "jobs/etcd").exists() and instance.index not in self.down:
                assert self.deployment.drain_and_stop(vm, 1024) == "0"
            self.down.add(instance.index)
            self.restarts += 1
            if new.release is not None:
                new.release.install(vm)
            elif upgrade:
                vm.prepare()  # this checkout's package again
            self.deployment.create(vm, instances)
            self.down.discard(instance.index)
            if sole:
                self.outages.append((began, time.monotonic()))
            if after_each is not None:
                after_each(instance.index)
        self.manifest = new

    def _changed(self, vm: Vm, me: Instance, instances: list[Instance],
                 properties: dict[str, Any]) -> bool:  # fmt: skip
        """Whether the job renders differently for this instance (BOSH updates only those)."""
        current = vm.root / "jobs/etcd"
        if vm.instance != me or not current.exists():
            return True
        with tempfile.TemporaryDirectory() as tmp:
            fresh = render(context(me, instances, properties), Path(tmp) / "etcd",
                           self.deployment.job)  # fmt: skip
            return _differs(filecmp.dircmp(current, fresh))

    def restart(self, index: int, post_start: bool = True) -> None:
        """`bosh restart` of one instance: drain, stop, pre-start, start, post-start."""
        vm = self.vms[index]
        assert self.deployment.drain_and_stop(vm, 1024) == "0"
        self.down.add(index)
        self.restarts += 1
        vm.step("/var/vcap/jobs/etcd/bin/pre-start")
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "start", "etcd")
        self.down.discard(index)
        if post_start:
            vm.step("/var/vcap/jobs/etcd/bin/post-start")

    def kill_vm(self, index: int) -> None:
        """The VM dies: SIGKILL to everything running on the instance, no drain."""
        self._kill_cgroup(index)
        self.down.add(index)

    def resurrect(self, index: int) -> None:
        """The resurrector recreates the VM with its persistent disk: a new ephemeral disk (no
        run files), then pre-start, start, post-start with the same templates."""
        vm = self.vms[index]
        shutil.rmtree(vm.root / "sys/run", ignore_errors=True)
        (vm.root / "sys/run").mkdir()
        self.restarts += 1
        vm.step("/var/vcap/jobs/etcd/bin/pre-start")
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "start", "etcd")
        self.down.discard(index)
        vm.step("/var/vcap/jobs/etcd/bin/post-start")

    def _kill_cgroup(self, index: int) -> None:
        path = self.cgroups / f"vm-{index}"
        if not path.exists():
            return
        (path / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + KILL_WAIT
        while (path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- partitions ---------------------------------------------------------------------------

    def partition(self, *sides: set[int]) -> None:
        """Drops every packet between instances of different sides (both directions, for new and
        established connections: the rules match the connection's NATed addresses)."""
        for a in sides:
            for b in sides:
                if a is b:
                    continue
                for i in a:
                    for j in b:
                        self.iptables("-A", PARTITION_CHAIN, "-m", "conntrack",
                                      "--ctreplsrc", ADDRESSES[j], "--ctrepldst", ADDRESSES[i],
                                      "-j", "DROP")  # fmt: skip

    def isolate(self, index: int) -> None:
        self.partition({index}, set(range(MAX_INSTANCES)) - {index})

    def heal(self) -> None:
        self.iptables("-F", PARTITION_CHAIN)

    # -- diagnostics --------------------------------------------------------------------------

    def logs(self) -> str:
        return "\n".join(f"=== instance {i}\n{vm.logs()}" for i, vm in sorted(self.vms.items()))


def _rmdir(cgroup: Path) -> None:
    """Removes a cgroup once its killed tasks are gone (they leave it a moment after the kill)."""
    deadline = time.monotonic() + KILL_WAIT
    while True:
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _differs(cmp: filecmp.dircmp[str]) -> bool:
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return True
    return any(_differs(sub) for sub in cmp.subdirs.values())
