"""A small director for the release tests: instances on loopback addresses inside a network
namespace the test creates, each with its own /var/vcap (a tmpfs over /var and a bind mount in
the mount namespace of every command run "on" the instance), the job rendered from the
templates, and BOSH's lifecycle order (drain, stop, pre-start, start, post-start)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.release.bosh import JOB, Instance, context, render

FAKE_BPM = Path(__file__).with_name("fakebpm.py")
JOIN = 'echo $$ > "$0" && exec "$@"'
ENTER = 'mount -t tmpfs none /var && mkdir /var/vcap && mount --bind "$0" /var/vcap && exec "$@"'
TOOLS = {
    "pyetcd": "pyetcd",
    "pyetcd-certs": "tls.certtool",
    "pyetcd-lifecycle": "pyetcd.lifecycle_io",
}


def can_namespace() -> str | None:
    """Why the namespace tier cannot run here, or None (it tries one namespace and mount)."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    name = f"pyetcd-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        probe = subprocess.run(
            ["ip", "netns", "exec", name, "sh", "-c", "mount -t tmpfs none /var"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    if probe.returncode != 0:
        return f"cannot mount inside a namespace: {probe.stderr.strip()}"
    return None


class StepFailed(AssertionError):
    pass


@dataclass
class Netns:
    name: str = field(default_factory=lambda: f"pyetcd-rel-{uuid.uuid4().hex[:8]}")

    def __enter__(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
                       check=True)  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True, check=False).stdout.split()  # fmt: skip
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@dataclass
class Vm:
    """One instance: its /var/vcap lives in `root`."""

    netns: Netns
    instance: Instance
    root: Path
    cgroup: Path | None = None  # a cgroup v2 directory every command on the instance joins

    def prepare(self) -> None:
        for rel in ("jobs/bpm/bin", "packages/pyetcd/bin", "store", "sys/log", "sys/run", "data"):
            (self.root / rel).mkdir(parents=True, exist_ok=True)
        bpm = self.root / "jobs/bpm/bin/bpm"
        bpm.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_BPM} "$@"\n')
        bpm.chmod(0o755)
        for tool, module in TOOLS.items():
            path = self.root / "packages/pyetcd/bin" / tool
            path.write_text(f'#!/bin/sh\nexec {sys.executable} -m {module} "$@"\n')
            path.chmod(0o755)

    def run(self, *argv: str, env: dict[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:  # fmt: skip
        command = ["ip", "netns", "exec", self.netns.name, "sh", "-c", ENTER, str(self.root), *argv]
        if self.cgroup is not None:  # joined before `ip netns exec`, which remounts /sys
            command = ["sh", "-c", JOIN, str(self.cgroup / "cgroup.procs"), *command]
        # cwd: the instance's own root, so that no checkout shadows its package's modules
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, check=False,
                              cwd=self.root)  # fmt: skip

    def step(self, *argv: str, env: dict[str, str] | None = None) -> str:
        done = self.run(*argv, env=env)
        if done.returncode != 0:
            raise StepFailed(
                f"{self.instance.group}/{self.instance.index} {' '.join(argv)} exited "
                f"{done.returncode}:\n{done.stderr[-3000:]}\n{self.logs()}"
            )
        return done.stdout

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "sys/log/etcd").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def client(self, method: str, path: str, data: str = "") -> dict[str, Any]:
        """One v2 request to this instance's client URL from inside the namespace, with the
        rendered client certificate when the member serves https."""
        code = (
            "import json,ssl,sys,urllib.request as u;"
            "c=None\n"
            "if sys.argv[4]:\n"
            " c=ssl.create_default_context(cafile=sys.argv[4]+'/server-ca.crt');"
            "c.load_cert_chain(sys.argv[4]+'/client.crt',sys.argv[4]+'/client.key')\n"
            "r=u.Request(sys.argv[1],data=sys.argv[3].encode() or None,method=sys.argv[2]);"
            "r.add_header('Content-Type','application/x-www-form-urlencoded');"
            "print(u.urlopen(r,timeout=10,context=c).read().decode())"
        )
        certs = self.root / "jobs/etcd/config/certs"
        tls = (certs / "client.crt").exists() and (certs / "client.crt").stat().st_size > 0
        url = f"{'https' if tls else 'http'}://{self.instance.address}:4001{path}"
        argv = [sys.executable, "-c", code, url, method, data, str(certs) if tls else ""]
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns.name, *argv],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise StepFailed(f"{method} {url}: {done.stderr[-1000:]}")
        return json.loads(done.stdout)


@dataclass
class Deployment:
    """The instances of one instance group, deployed and updated in BOSH's order."""

    netns: Netns
    base: Path
    properties: dict[str, Any]
    vms: dict[int, Vm] = field(default_factory=dict)
    job: Path = JOB  # the release version's job directory
    cgroups: Path | None = None  # a cgroup v2 directory holding each instance's `vm-<index>`

    def vm(self, instance: Instance) -> Vm:
        vm = self.vms.get(instance.index)
        if vm is None:
            # keyed by index: a renamed group (migrated_from) keeps its VMs and disks
            name = f"vm-{instance.index}"
            cgroup = None if self.cgroups is None else self.cgroups / name
            vm = Vm(self.netns, instance, self.base / name, cgroup)
            vm.prepare()
            self.vms[instance.index] = vm
        vm.instance = instance
        return vm

    def create(self, vm: Vm, instances: list[Instance]) -> None:
        """Render, pre-start, start (monit -> bpm), post-start."""
        jobs = vm.root / "jobs/etcd"
        if jobs.exists():
            shutil.rmtree(jobs)
        render(context(vm.instance, instances, self.properties), jobs, self.job)
        vm.step("/var/vcap/jobs/etcd/bin/pre-start")
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "start", "etcd")
        vm.step("/var/vcap/jobs/etcd/bin/post-start")

    def drain_and_stop(self, vm: Vm, persistent_disk: int) -> str:
        state = json.dumps({"persistent_disk": persistent_disk})
        env = {"BOSH_JOB_STATE": json.dumps({"persistent_disk": 1024}),
               "BOSH_JOB_NEXT_STATE": state}  # fmt: skip
        printed = vm.step("/var/vcap/jobs/etcd/bin/drain", env=env).strip()
        vm.step("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd")
        return printed

    def delete(self, index: int) -> str:
        """Scale-down: drain (next state without a disk), stop, delete the VM and its disk."""
        vm = self.vms.pop(index)
        printed = self.drain_and_stop(vm, persistent_disk=0)
        shutil.rmtree(vm.root)
        return printed

    def deploy(self, instances: list[Instance]) -> None:
        """A first deploy or an update: canary first, then one at a time (serial)."""
        for instance in instances:
            vm = self.vm(instance)
            if (vm.root / "jobs/etcd").exists():
                assert self.drain_and_stop(vm, 1024) == "0"
            self.create(vm, instances)

    def stop_all(self) -> None:
        for vm in self.vms.values():
            vm.run("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd", timeout=30)
