"""The etcd-release README's three-step rotation on a live pyetcd cluster, without a restart.

Writers keep writing through all members the whole time, each request on a new connection (a
full handshake against whatever material the member holds at that moment), trusting both CAs
as operators' clients do during a rotation. Not one write may fail. Real etcd cannot pass this:
it never re-reads a changed CA file.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.tls_cluster.cluster import (
    Cluster,
    Member,
    Pki,
    attempt,
    make_pki,
    replace_file,
    request,
    tls_client,
    tls_cluster,
)

WRITERS = 2
SWITCH_TIMEOUT = 20.0


@dataclass(slots=True)
class Writers:
    """Threads writing distinct keys round-robin over the members until stopped."""

    cluster: Cluster
    context: Callable[[], ssl.SSLContext]
    stop: threading.Event = field(default_factory=threading.Event)
    written: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(WRITERS):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, number: int) -> None:
        count = 0
        while not self.stop.is_set():
            member = self.cluster.members[count % len(self.cluster.members)]
            key = f"/v2/keys/rotation/w{number}-{count}"
            try:
                status, body = request(
                    member.client_port, self.context(), "PUT", key, {"value": "v"}
                )
                outcome = "" if status in (200, 201) else f"{status} {body[:200]!r}"
            except OSError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with self.lock:
                if outcome:
                    self.failures.append(f"{member.name} {key}: {outcome}")
                else:
                    self.written.append(key)
            count += 1

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def bundle(path: Path, *parts: Path) -> Path:
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    return path


def wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SWITCH_TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


def everywhere(cluster: Cluster, ctx: ssl.SSLContext, ok: bool) -> Callable[[], bool]:
    """Whether every member accepts (ok) or refuses (not ok) a client with `ctx`."""

    def check() -> bool:
        results = [
            attempt(m.client_port, ctx, "/v2/keys/rotation").startswith("200")
            for m in cluster.members
        ]
        return all(result is ok for result in results)

    return check


def swap_leaves(member: Member, new: Pki) -> None:
    d = member.tls_dir
    for name, source in (
        ("server.key", new.server_key),
        ("server.crt", new.server_cert),
        ("peer.key", new.peer_key),
        ("peer.crt", new.peer_cert),
    ):
        replace_file(d / name, source.read_bytes())


def test_three_step_rotation_under_writes() -> None:
    with tls_cluster("pyetcd") as cluster:
        old, new = cluster.pki, make_pki(cluster.root / "pki-2")
        both = bundle(cluster.root / "both-ca.crt", old.ca, new.ca)
        peer_both = bundle(cluster.root / "both-peer-ca.crt", old.peer_ca, new.peer_ca)
        client_cert = [old.client_cert, old.client_key]
        writers = Writers(cluster, lambda: tls_client(both, *client_cert))
        old_client = tls_client(old.ca, old.client_cert, old.client_key)
        new_client = tls_client(new.ca, new.client_cert, new.client_key)
        writers.start()
        try:
            time.sleep(1)
            # 1. Append the new CAs to the CA files.
            for member in cluster.members:
                replace_file(member.tls_dir / "ca.crt", both.read_bytes())
                replace_file(member.tls_dir / "peer-ca.crt", peer_both.read_bytes())
            trusts_new = tls_client(both, new.client_cert, new.client_key)
            wait_until("every member trusts the new CA", everywhere(cluster, trusts_new, True))
            # 2. Swap the leaf certificates and keys (clients too).
            client_cert[:] = [new.client_cert, new.client_key]
            for member in cluster.members:
                swap_leaves(member, new)
            wait_until(
                "every member presents the new certificate", everywhere(cluster, new_client, True)
            )
            time.sleep(1)
            # 3. Remove the old CAs.
            for member in cluster.members:
                replace_file(member.tls_dir / "ca.crt", new.ca.read_bytes())
                replace_file(member.tls_dir / "peer-ca.crt", new.peer_ca.read_bytes())
            wait_until("no member accepts the old PKI", everywhere(cluster, old_client, False))
            time.sleep(1)
        finally:
            writers.finish()
        assert writers.failures == []
        assert len(writers.written) >= 20
        for member in cluster.members:
            assert member.proc is not None and member.proc.poll() is None
            assert "loaded new certificate material" in member.log()
        # New peer connections both ways: a member holding only the new PKI joins.
        joiner = Member("pyetcd", "m3", cluster.root / "m3")
        joiner.install(new)
        cluster.join(joiner, new_client)
        port = joiner.client_port
        status, body = request(
            port, new_client, "GET", "/v2/keys/rotation?recursive=true&quorum=true"
        )
        assert status == 200
        assert {n["key"] for n in json.loads(body)["node"]["nodes"]} == set(
            k.removeprefix("/v2/keys") for k in writers.written
        )
