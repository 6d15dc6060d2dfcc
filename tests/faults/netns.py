"""A network namespace of its own per test: members on 127.0.0.11 and up of its loopback, and
partitions as iptables rules inside it.

Every member starts with its own group id, and the first packet of each connection tags the
connection (CONNMARK) with the group of the member that opened it. A rule that cuts `a` from
`b` then drops every packet of a connection opened by `a` towards `b`'s address, both ways;
clients (group 0) are never cut, as in Jepsen, where clients reach every node.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tests.release.deploy import Netns

CLONE_NEWNET = 0x40000000
FIRST_HOST = 11
GID_BASE = 41000  # member i runs with group GID_BASE + i


def address(index: int) -> str:
    return f"127.0.0.{FIRST_HOST + index}"


def why_not() -> str | None:
    """Why the tier cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (a network namespace and iptables inside it)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def cut_rules(pairs: Iterable[tuple[int, int]]) -> list[list[str]]:
    """iptables rules that drop every packet of connections member `a` opens to member `b`."""
    return [
        ["-A", "OUTPUT", "-m", "connmark", "--mark", str(GID_BASE + a), "-m", "conntrack",
         "--ctorigdst", address(b), "-j", "DROP"]
        for a, b in sorted(set(pairs))
    ]  # fmt: skip


@dataclass
class Namespace:
    """`with Namespace(size) as ns:` creates it; leaving kills what runs inside and deletes it."""

    size: int
    name: str = field(default_factory=lambda: f"pyetcd-faults-{uuid.uuid4().hex[:10]}")

    def __post_init__(self) -> None:
        self.netns = Netns(self.name)

    def __enter__(self) -> Namespace:
        self.netns.__enter__()
        try:
            for index in range(self.size):
                self.add_member(index)
        except BaseException:
            self.__exit__()
            raise
        return self

    def add_member(self, index: int) -> None:
        """Its address on lo, and the rule tagging the connections it opens."""
        self.run("ip", "addr", "add", f"{address(index)}/8", "dev", "lo")
        gid = str(GID_BASE + index)
        tag = ["-m", "owner", "--gid-owner", gid, "-j", "CONNMARK", "--set-mark", gid]
        self.run("iptables", "-t", "mangle", "-A", "OUTPUT", "-m", "connmark", "--mark", "0", *tag)

    def __exit__(self, *exc: object) -> None:
        """Kills every process left inside, then deletes the namespace (its rules with it)."""
        self.netns.__exit__()

    def run(self, *argv: str) -> str:
        done = subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {self.name}: {done.stderr.strip()}")
        return done.stdout

    def cut(self, pairs: Iterable[tuple[int, int]]) -> None:
        for rule in cut_rules(pairs):
            self.run("iptables", *rule)

    def heal(self) -> None:
        self.run("iptables", "-F", "OUTPUT")

    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into the namespace (sockets it opens live there)."""
        there = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            with entered_fd(there):
                yield
        finally:
            os.close(there)


@contextlib.contextmanager
def entered_fd(netns: int) -> Iterator[None]:
    """The calling thread in the network namespace open as `netns`, back where it was after."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.setns(netns, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the test namespace")
        yield
    finally:
        libc.setns(here, CLONE_NEWNET)
        os.close(here)
