"""Real handshakes on 127.0.0.1 with the context builders."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from tests.tls.helpers import SERVICE, EchoServer, Leaf, Material, echo_server, roundtrip
from tls.contexts import TLSMaterialError, client_context, server_context


def _mtls_server(m: Material, trusted: str | None = None) -> ssl.SSLContext:
    return server_context(str(m.server.cert), str(m.server.key), trusted or str(m.ca.cert), True)


def _client(
    m: Material, leaf: Leaf | None = None, ca: str | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    leaf = leaf or m.client
    return client_context(ca or str(m.ca.cert), str(leaf.cert), str(leaf.key), check_hostname)


async def _refused_by_server(server: EchoServer, ctx: ssl.SSLContext) -> None:
    before = server.accepted
    assert await roundtrip(server.port, ctx) != "ok"
    assert server.accepted == before


async def test_mutual_tls_round_trip_with_modern_parameters(material: Material) -> None:
    async with echo_server(_mtls_server(material)) as server:
        assert await roundtrip(server.port, _client(material)) == "ok"
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=_client(material), server_hostname=SERVICE
        )
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        obj = writer.get_extra_info("ssl_object")
        assert obj.version() == "TLSv1.3"
        assert obj.getpeercert()["subject"] == ((("commonName", SERVICE),),)
        writer.close()
        assert server.accepted == 2


async def test_tls12_negotiates_ecdhe_with_an_aead_cipher(material: Material) -> None:
    client = _client(material)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with echo_server(_mtls_server(material)) as server:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=client, server_hostname=SERVICE
        )
        name, version, _ = writer.get_extra_info("ssl_object").cipher()
        writer.close()
    assert version == "TLSv1.2"
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
async def test_tls11_is_refused(material: Material) -> None:
    client = _client(material)
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    client.maximum_version = ssl.TLSVersion.TLSv1_1
    async with echo_server(_mtls_server(material)) as server:
        await _refused_by_server(server, client)


def test_only_ecdhe_aead_suites_are_offered_on_tls12(material: Material) -> None:
    for ctx in (_mtls_server(material), _client(material)):
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
        assert tls12
        assert all(c["kea"] == "kx-ecdhe" and c["aead"] for c in tls12)


async def test_refusals_leave_the_server_serving(material: Material) -> None:
    m = material
    async with echo_server(_mtls_server(m)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v2/keys HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(100), 10) == b""
        writer.close()
        await _refused_by_server(server, client_context(str(m.ca.cert)))
        await _refused_by_server(server, _client(m, m.other_client))
        await _refused_by_server(server, _client(m, m.expired_client))
        assert server.accepted == 0
        assert await roundtrip(server.port, _client(m)) == "ok"
        assert server.accepted == 1


async def test_client_refuses_servers_it_should_not_trust(material: Material) -> None:
    m = material
    async with echo_server(_mtls_server(m)) as server:
        result = await roundtrip(server.port, _client(m, ca=str(m.other_ca.cert)))
        assert "CERTIFICATE_VERIFY_FAILED" in result
        result = await roundtrip(server.port, _client(m), host="wrong.example")
        assert "Hostname mismatch" in result
        result = await roundtrip(server.port, _client(m), host="127.0.0.2")
        assert "IP address mismatch" in result
        assert await roundtrip(server.port, _client(m), host="127.0.0.1") == "ok"
    expired = server_context(str(m.expired_server.cert), str(m.expired_server.key))
    async with echo_server(expired) as server:
        assert "certificate has expired" in await roundtrip(server.port, _client(m))


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (SERVICE, True),
        (f"etcd-0.{SERVICE}", True),
        (f"ETCD-2.{SERVICE.upper()}", True),
        (f"a.etcd-0.{SERVICE}", False),
        ("service.cf.internal", False),
        ("127.0.0.1", True),
        ("::1", True),
        ("10.0.0.1", False),
    ],
)
async def test_wildcard_and_ip_san_matching(material: Material, host: str, ok: bool) -> None:
    async with echo_server(_mtls_server(material)) as server:
        result = await roundtrip(server.port, _client(material), host=host)
    assert (result == "ok") is ok, result


async def test_check_hostname_off_still_verifies_the_chain(material: Material) -> None:
    m = material
    async with echo_server(_mtls_server(m)) as server:
        assert await roundtrip(server.port, _client(m, check_hostname=False), "x.y") == "ok"
        other = _client(m, ca=str(m.other_ca.cert), check_hostname=False)
        assert "CERTIFICATE_VERIFY_FAILED" in await roundtrip(server.port, other, "x.y")


async def test_peers_verify_each_other_with_the_wildcard_peer_cert(material: Material) -> None:
    m = material
    listener = server_context(str(m.peer.cert), str(m.peer.key), str(m.ca.cert), True)
    async with echo_server(listener) as server:
        dialer = _client(m, m.peer)
        assert await roundtrip(server.port, dialer, f"etcd-1.{SERVICE}") == "ok"
        assert await roundtrip(server.port, dialer, SERVICE) == "ok"


async def test_trust_bundle_of_two_cas_accepts_both(material: Material) -> None:
    """Rotation step 1: the CA files hold old plus new CA, both sides accept both."""
    m = material
    bundle = str(m.bundle)
    async with echo_server(_mtls_server(m, trusted=bundle)) as server:
        assert await roundtrip(server.port, _client(m, m.client, ca=bundle)) == "ok"
        assert await roundtrip(server.port, _client(m, m.other_client, ca=bundle)) == "ok"
        assert server.accepted == 2


async def test_trusted_ca_without_client_auth_verifies_presented_certs_only(
    material: Material,
) -> None:
    m = material
    ctx = server_context(str(m.server.cert), str(m.server.key), str(m.ca.cert))
    async with echo_server(ctx) as server:
        assert await roundtrip(server.port, client_context(str(m.ca.cert))) == "ok"
        assert await roundtrip(server.port, _client(m)) == "ok"
        await _refused_by_server(server, _client(m, m.other_client))


def test_builder_errors_name_the_file(material: Material, tmp_path) -> None:
    m = material
    missing = str(tmp_path / "missing.crt")
    with pytest.raises(TLSMaterialError, match=r"missing\.crt / key .*: cannot load: No such file"):
        server_context(missing, str(m.server.key))
    with pytest.raises(TLSMaterialError, match="cannot load: KEY_VALUES_MISMATCH"):
        server_context(str(m.server.cert), str(m.client.key))
    with pytest.raises(TLSMaterialError, match=r"missing\.crt: cannot load CA certificates"):
        client_context(missing)
    with pytest.raises(TLSMaterialError, match="needs a trusted CA file"):
        server_context(str(m.server.cert), str(m.server.key), None, client_cert_auth=True)
