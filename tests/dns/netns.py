"""The DNS tier's world: a network namespace (the release tier's Netns) whose loopback runs
tests/dns/dnsserver.py on 127.0.0.1:53, and commands run inside it with /etc/resolv.conf
bind-mounted to name that server (`ip netns exec` gives each command its own mount
namespace, so the host's resolv.conf is untouched)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.release.deploy import Netns

REPO = Path(__file__).resolve().parents[2]
WITH_RESOLV = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'


@dataclass
class DnsWorld:
    netns: Netns
    base: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def resolv(self) -> Path:
        return self.base / "resolv.conf"

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns.name, "sh", "-c", WITH_RESOLV,
                str(self.resolv), *argv]  # fmt: skip

    def start(self, log: str, *argv: str) -> subprocess.Popen[bytes]:
        """A long-running process inside the namespace, its output in `<base>/<log>.log`."""
        with open(self.base / f"{log}.log", "ab") as out:
            proc = subprocess.Popen(self.command(*argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*argv), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, check=False)  # fmt: skip

    def get(self, url: str) -> Any:
        """GET url from inside the namespace: the JSON body, or None when it fails."""
        code = (
            "import sys,urllib.request as u;print(u.urlopen(sys.argv[1],timeout=5).read().decode())"
        )
        done = self.run(sys.executable, "-c", code, url, timeout=20)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def put(self, url: str, value: str) -> Any:
        code = ("import sys,urllib.request as u;r=u.Request(sys.argv[1],data=sys.argv[2].encode(),"
                "method='PUT');r.add_header('Content-Type','application/x-www-form-urlencoded');"
                "print(u.urlopen(r,timeout=5).read().decode())")  # fmt: skip
        done = self.run(sys.executable, "-c", code, url, f"value={value}", timeout=20)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def wait_for(self, url: str, seconds: float = 40) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = self.get(url)
            if body is not None:
                return body
            time.sleep(0.5)
        return None

    def stop_all(self) -> None:
        """Stops what `start` started, the DNS server (the first) excepted."""
        server, self.procs = self.procs[:1], self.procs[1:]
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs = server

    def close(self) -> None:
        self.stop_all()
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)
        self.procs.clear()


def open_world(netns: Netns, base: Path, zone: str) -> DnsWorld:
    """Starts the DNS server for `zone` inside `netns`; waits until it answers."""
    world = DnsWorld(netns, base)
    world.resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
    (base / "zone").write_text(zone)
    server = world.start("dns", sys.executable, "-m", "tests.dns.dnsserver", str(base / "zone"))
    deadline = time.monotonic() + 15
    while "ready" not in world.log("dns"):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the test DNS server did not start:\n{world.log('dns')}")
        time.sleep(0.1)
    return world
