"""The harness's own machinery, without a member: each instance speaks from its own address,
a partition cuts traffic between instances (the test's own clients still reach every one) and a
heal restores it, a VM kill leaves nothing running on the instance."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.acceptance.harness import ADDRESSES, Director, why_not
from tests.release.bosh import Instance

WHY_NOT = why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the harness {WHY_NOT}")
PORT = 9000
# Instance 0 runs an echo server that answers with the address it saw the client come from.
SERVER = (
    "import socketserver as s,sys\n"
    "class H(s.BaseRequestHandler):\n"
    " def handle(self):\n"
    "  r=self.request\n"
    "  while (d:=r.recv(100)):r.sendall(self.client_address[0].encode()+b' '+d)\n"
    "s.ThreadingTCPServer.allow_reuse_address=True\n"
    "s.ThreadingTCPServer((sys.argv[1],int(sys.argv[2])),H).serve_forever()\n"
)
CLIENT = (
    "import socket,sys\n"
    "c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2);c.sendall(b'hi')\n"
    "print(c.recv(100).decode())\n"
)


def _ask(director: Director, index: int) -> str:
    done = director.vms[index].run("python3", "-c", CLIENT, ADDRESSES[0], str(PORT), timeout=20)
    return done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr[-200:]}"


def test_addresses_partitions_and_vm_kill(tmp_path: Path) -> None:
    with Director(tmp_path) as director:
        for index in range(3):
            director.deployment.vm(Instance("etcd", index, ADDRESSES[index], index == 0))
        server = director.vms[0]
        started = server.run("sh", "-c", 'setsid python3 -c "$0" "$@" >/dev/null 2>&1 &',
                             SERVER, ADDRESSES[0], str(PORT))  # fmt: skip
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 10
        while _ask(director, 1).startswith("failed") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ask(director, 1) == f"{ADDRESSES[1]} hi", "instance 1 speaks from its address"
        assert _ask(director, 2) == f"{ADDRESSES[2]} hi"

        def established() -> socket.socket:
            return socket.create_connection((ADDRESSES[0], PORT), timeout=2)

        test_client = director.in_netns(established)  # the test's own clients are never cut
        director.isolate(0)
        assert _ask(director, 1).startswith("failed"), "the partition lets a connection through"
        test_client.sendall(b"still")
        assert test_client.recv(100).endswith(b"still")
        director.heal()
        assert _ask(director, 2) == f"{ADDRESSES[2]} hi", "the heal restores traffic"
        test_client.close()

        director.kill_vm(0)
        procs = (director.cgroups / "vm-0" / "cgroup.procs").read_text().strip()
        assert procs == "", f"processes left on the killed VM: {procs}"
        assert _ask(director, 1).startswith("failed")
    assert not director.cgroups.exists(), "the instances' cgroups are removed"
