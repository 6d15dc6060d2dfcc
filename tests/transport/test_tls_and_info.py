"""Mutual TLS between transports, plaintext refused by a TLS listener, and fetch_info."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from raft.aio.peer_frames import Accept, encode_control
from raft.aio.transport import PeerProtocolError, PeerRefused, PeerURLError, fetch_info
from raft.messages import Heartbeat
from tests.tls.helpers import Pki
from tests.transport.conftest import CLUSTER, MemberFactory, connect, eventually
from tls import ReloadingClientContext, ReloadingServerContext, client_context


@dataclass(frozen=True, slots=True)
class PeerTLS:
    """One member's TLS material: listener context (None if unusable) and dialer callable."""

    server: ssl.SSLContext | None
    dialer: Callable[[], ssl.SSLContext]


@pytest.fixture(scope="module")
def peer_tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PeerTLS]:
    pki = Pki(tmp_path_factory.mktemp("peer-pki"))
    ca, stranger_ca = pki.ca("peerCA"), pki.ca("strangerCA")
    trusted = str(ca.cert)

    def member(name: str) -> PeerTLS:
        leaf = pki.leaf(ca, name, ["localhost"], ["127.0.0.1"])
        server = ReloadingServerContext(str(leaf.cert), str(leaf.key), trusted, True).context
        client = ReloadingClientContext(trusted, str(leaf.cert), str(leaf.key))
        return PeerTLS(server, lambda: client.current)

    # Trusts the members' CA but presents a certificate the members do not trust.
    stranger = pki.leaf(stranger_ca, "stranger", ["localhost"], ["127.0.0.1"])
    intruder = client_context(trusted, str(stranger.cert), str(stranger.key))
    return {"m1": member("m1"), "m2": member("m2"), "stranger": PeerTLS(None, lambda: intruder)}


async def test_mutual_tls_exchange(
    make_member: MemberFactory, peer_tls: dict[str, PeerTLS]
) -> None:
    one, two = peer_tls["m1"], peer_tls["m2"]
    a = await make_member(1, "https://127.0.0.1:0", server_ssl=one.server, client_ssl=one.dialer)
    b = await make_member(2, "https://127.0.0.1:0", server_ssl=two.server, client_ssl=two.dialer)
    assert a.url.startswith("https://")
    connect(a, b)
    a.transport.send([Heartbeat(2, 1, 1, commit=1)])
    b.transport.send([Heartbeat(1, 2, 1, commit=2)])
    await eventually(lambda: len(a.received) == len(b.received) == 1, "one message each way")
    assert a.transport.stats(2).connected and b.transport.stats(1).connected


async def test_untrusted_certificate_cannot_connect(
    make_member: MemberFactory, peer_tls: dict[str, PeerTLS]
) -> None:
    one, stranger = peer_tls["m1"], peer_tls["stranger"]
    b = await make_member(2, "https://127.0.0.1:0", server_ssl=one.server)
    a = await make_member(1, client_ssl=stranger.dialer, backoff=(0.05, 0.05))
    a.transport.set_peers({2: (b.url,)})
    a.transport.send([Heartbeat(2, 1, 1, commit=1)])
    await eventually(lambda: 2 in a.unreachable, "the failed handshake")
    assert not b.received and not a.transport.stats(2).connected
    assert b.transport.counters.accepted_connections == 0


async def test_plaintext_dial_to_tls_listener_fails(
    make_member: MemberFactory, peer_tls: dict[str, PeerTLS]
) -> None:
    one = peer_tls["m1"]
    b = await make_member(2, "https://127.0.0.1:0", server_ssl=one.server, info_handler=bytes)
    a = await make_member(1, backoff=(0.05, 0.05))
    plain = b.url.replace("https://", "http://")
    a.transport.set_peers({2: (plain,)})
    a.transport.send([Heartbeat(2, 1, 1, commit=1)])
    await eventually(lambda: 2 in a.unreachable, "the failed dial")
    assert not b.received and not a.transport.stats(2).connected
    with pytest.raises((OSError, EOFError)):
        await fetch_info(plain, None, timeout=5)


async def test_https_needs_tls_material(make_member: MemberFactory) -> None:
    a = await make_member(1, listen=None)
    with pytest.raises(PeerURLError, match="server TLS"):
        await a.transport.start(["https://127.0.0.1:0"])
    with pytest.raises(PeerURLError, match="client TLS"):
        await fetch_info("https://127.0.0.1:1", None)


async def test_fetch_info(make_member: MemberFactory, peer_tls: dict[str, PeerTLS]) -> None:
    info = b'{"members": []}'
    b = await make_member(2, info_handler=lambda: info)
    assert await fetch_info(b.url, None) == info
    assert await fetch_info(b.url, CLUSTER) == info
    with pytest.raises(PeerRefused, match="cluster id mismatch"):
        await fetch_info(b.url, 0xBAD)
    one = peer_tls["m1"]
    secure = await make_member(
        3, "https://127.0.0.1:0", server_ssl=one.server, info_handler=lambda: info
    )
    assert await fetch_info(secure.url, None, peer_tls["m2"].dialer) == info
    assert b.transport.counters.refused_hellos == 1


async def test_fetch_info_handler_failure_and_bad_urls(make_member: MemberFactory) -> None:
    def broken() -> bytes:
        raise RuntimeError("no members yet")

    b = await make_member(2, info_handler=broken)
    with pytest.raises(PeerRefused, match="unavailable"):
        await fetch_info(b.url, None)
    with pytest.raises(PeerURLError):
        await fetch_info("http://127.0.0.1", None)
    with pytest.raises(PeerURLError):
        await fetch_info("http://127.0.0.1:1/path", None)


async def test_fetch_info_rejects_a_non_info_answer() -> None:
    async def accept_anything(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_control(Accept()))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(accept_anything, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(PeerProtocolError, match="expected Info"):
            await fetch_info(f"http://127.0.0.1:{port}", None)
    finally:
        server.close()
        await server.wait_closed()
