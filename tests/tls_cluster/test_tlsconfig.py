"""pyetcd.tlsconfig: which contexts the daemon builds from its flags, and what it refuses."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyetcd.tlsconfig import TLSConfigError, TLSSettings, build_tls
from tests.tls.helpers import SERVICE, Material, Pki, echo_server, roundtrip

CLIENT = "https://127.0.0.1:2379"
PEER = "https://127.0.0.1:2380"


def mutual(material: Material, **changes: object) -> TLSSettings:
    """Client and peer mutual TLS on 127.0.0.1 with one CA, as in the etcd-release README."""
    fields: dict[str, object] = {
        "cert_file": str(material.server.cert),
        "key_file": str(material.server.key),
        "trusted_ca_file": str(material.ca.cert),
        "client_cert_auth": True,
        "peer_cert_file": str(material.server.cert),
        "peer_key_file": str(material.server.key),
        "peer_trusted_ca_file": str(material.ca.cert),
        "peer_client_cert_auth": True,
        "listen_client_urls": (CLIENT,),
        "advertise_client_urls": (CLIENT,),
        "listen_peer_urls": (PEER,),
        "advertise_peer_urls": (PEER,),
        "cluster_peer_urls": (PEER, "https://127.0.0.1:2381"),
    }
    fields.update(changes)
    return TLSSettings(**fields)  # type: ignore[arg-type]


def problems_of(settings: TLSSettings) -> list[str]:
    with pytest.raises(TLSConfigError) as info:
        build_tls(settings)
    return info.value.problems


def test_plain_http_builds_nothing() -> None:
    setup = build_tls(TLSSettings(listen_client_urls=("http://127.0.0.1:2379",)))
    assert setup.reloaders == ()
    assert (setup.client_ssl, setup.peer_server_ssl, setup.peer_client_ssl()) == (None,) * 3
    assert setup.maybe_reload() is False


def test_mutual_tls_contexts(material: Material) -> None:
    setup = build_tls(mutual(material))
    assert setup.client_ssl is not None and setup.client_ssl.verify_mode == ssl.CERT_REQUIRED
    assert setup.peer_server_ssl is not None
    assert setup.peer_server_ssl.verify_mode == ssl.CERT_REQUIRED
    dialer = setup.peer_client_ssl()
    assert dialer is not None and dialer.check_hostname
    assert dialer.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(setup.reloaders) == 3


def test_a_trusted_ca_alone_requires_client_certificates_as_in_etcd(material: Material) -> None:
    setup = build_tls(mutual(material, client_cert_auth=False, peer_client_cert_auth=False))
    assert setup.client_ssl is not None and setup.client_ssl.verify_mode == ssl.CERT_REQUIRED
    assert setup.peer_server_ssl is not None
    assert setup.peer_server_ssl.verify_mode == ssl.CERT_REQUIRED


def test_server_authentication_only(material: Material) -> None:
    setup = build_tls(mutual(material, trusted_ca_file="", client_cert_auth=False))
    assert setup.client_ssl is not None and setup.client_ssl.verify_mode == ssl.CERT_NONE


async def test_peers_verify_each_other(material: Material) -> None:
    setup = build_tls(mutual(material))
    assert setup.peer_server_ssl is not None
    dialer = setup.peer_client_ssl()
    assert dialer is not None
    async with echo_server(setup.peer_server_ssl) as echo:
        assert await roundtrip(echo.port, dialer) == "ok"
        assert await roundtrip(echo.port, dialer, host=f"etcd-0.{SERVICE}") == "ok"
        wrong = await roundtrip(echo.port, dialer, host="etcd-0.elsewhere.internal")
        assert "CERTIFICATE_VERIFY_FAILED" in wrong


async def test_peer_listener_requires_a_peer_certificate(material: Material) -> None:
    setup = build_tls(mutual(material))
    assert setup.peer_server_ssl is not None
    anonymous = ssl.create_default_context(cafile=str(material.ca.cert))
    async with echo_server(setup.peer_server_ssl) as echo:
        assert await roundtrip(echo.port, anonymous) != "ok"
        assert echo.accepted == 0


def test_https_without_certificate_files_is_refused() -> None:
    problems = problems_of(TLSSettings(listen_client_urls=(CLIENT,), listen_peer_urls=(PEER,)))
    assert problems == [
        f"client URL {CLIENT} is https but --cert-file and --key-file are not both given",
        f"peer URL {PEER} is https but --peer-cert-file and --peer-key-file are not both given",
    ]


def test_half_a_pair_and_auth_without_ca_are_refused(material: Material) -> None:
    settings = TLSSettings(
        cert_file=str(material.server.cert), client_cert_auth=True, peer_client_cert_auth=True
    )
    assert problems_of(settings) == [
        "--cert-file is given without --key-file",
        "--client-cert-auth needs --trusted-ca-file to verify client certificates",
        "--peer-client-cert-auth needs --peer-trusted-ca-file to verify peer certificates",
    ]


def test_expired_certificate(material: Material) -> None:
    old = material.expired_server
    problems = problems_of(mutual(material, cert_file=str(old.cert), key_file=str(old.key)))
    assert len(problems) == 1
    assert problems[0].startswith(f"server certificate {old.cert}: expired on ")


def test_certificate_from_another_ca(material: Material, pki: Pki) -> None:
    foreign = pki.leaf(material.other_ca, SERVICE, [SERVICE], ["127.0.0.1"])
    settings = mutual(material, peer_cert_file=str(foreign.cert), peer_key_file=str(foreign.key))
    problems = problems_of(settings)
    assert problems
    assert all(
        p.startswith(f"peer certificate {foreign.cert}: not signed by any CA in ") for p in problems
    )


def test_certificate_without_the_advertised_host(material: Material) -> None:
    settings = mutual(material, advertise_peer_urls=("https://etcd-0.elsewhere.internal:2380",))
    (problem,) = problems_of(settings)
    assert problem.startswith(
        f"peer certificate {material.server.cert}: no SAN for host etcd-0.elsewhere.internal"
    )


def test_wildcard_san_covers_member_names(material: Material) -> None:
    build_tls(mutual(material, advertise_peer_urls=(f"https://etcd-2.{SERVICE}:2380",)))


def test_key_mismatch_bad_pem_and_unreadable(material: Material, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    missing = tmp_path / "missing.key"
    settings = mutual(
        material,
        key_file=str(material.client.key),
        peer_cert_file=str(garbage),
        peer_key_file=str(missing),
    )
    problems = problems_of(settings)
    assert (
        f"server key {material.client.key}: does not match certificate {material.server.cert}"
        in problems
    )
    assert f"peer certificate {garbage}: no PEM certificate in the file" in problems
    assert f"peer key {missing}: cannot read: No such file or directory" in problems


def test_reload_picks_up_rewritten_files(material: Material, tmp_path: Path, pki: Pki) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    shutil.copy(material.server.cert, cert)
    shutil.copy(material.server.key, key)
    setup = build_tls(mutual(material, cert_file=str(cert), key_file=str(key)))
    assert setup.maybe_reload() is False
    fresh = pki.leaf(material.ca, SERVICE, [SERVICE], ["127.0.0.1"])
    shutil.copy(fresh.cert, cert)
    shutil.copy(fresh.key, key)
    assert setup.maybe_reload() is True
    assert setup.client is not None and setup.client.reloads == 1


async def test_sighup_reloads_at_once(material: Material, tmp_path: Path, pki: Pki) -> None:
    cert, key = tmp_path / "peer.crt", tmp_path / "peer.key"
    shutil.copy(material.server.cert, cert)
    shutil.copy(material.server.key, key)
    setup = build_tls(mutual(material, peer_cert_file=str(cert), peer_key_file=str(key)))
    task = asyncio.create_task(setup.run(interval=3600))
    await asyncio.sleep(0)
    fresh = pki.leaf(material.ca, SERVICE, [SERVICE], ["127.0.0.1"])
    shutil.copy(fresh.cert, cert)
    shutil.copy(fresh.key, key)
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        if setup.peer_server is not None and setup.peer_server.reloads:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert setup.peer_server is not None and setup.peer_server.reloads == 1
    assert setup.peer_dialer is not None and setup.peer_dialer.reloads == 1


@dataclass(frozen=True, slots=True)
class FlagValues:
    """The Config fields TLSSettings.from_config reads."""

    tls_files: tuple[tuple[str, str], ...]
    client_cert_auth: bool
    peer_client_cert_auth: bool
    listen_client_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    initial_advertise_peer_urls: tuple[str, ...]
    initial_cluster: tuple[tuple[str, tuple[str, ...]], ...]
    data_dir: str = "m.etcd"
    cipher_suites: tuple[str, ...] = ("TLS_AES_128_GCM_SHA256",)
    auto_tls: bool = True
    peer_auto_tls: bool = False
    client_cert_allowed_hostname: str = "client.example"
    peer_cert_allowed_cn: str = "peer-cn"
    peer_cert_allowed_hostname: str = ""
    peer_skip_client_san_verification: bool = True


def test_settings_from_config() -> None:
    config = FlagValues(
        tls_files=(
            ("cert-file", "s.crt"),
            ("key-file", "s.key"),
            ("client-crl-file", "c.crl"),
            ("peer-trusted-ca-file", "p.ca"),
            ("peer-crl-file", "p.crl"),
        ),
        client_cert_auth=False,
        peer_client_cert_auth=True,
        listen_client_urls=(CLIENT,),
        advertise_client_urls=("https://etcd-0.example:2379",),
        listen_peer_urls=(PEER,),
        initial_advertise_peer_urls=(PEER,),
        initial_cluster=(("a", (PEER,)), ("b", ("https://127.0.0.1:2381", "https://[::1]:2381"))),
    )
    assert TLSSettings.from_config(config) == TLSSettings(
        cert_file="s.crt",
        key_file="s.key",
        peer_trusted_ca_file="p.ca",
        peer_client_cert_auth=True,
        listen_client_urls=(CLIENT,),
        advertise_client_urls=("https://etcd-0.example:2379",),
        listen_peer_urls=(PEER,),
        advertise_peer_urls=(PEER,),
        cluster_peer_urls=(PEER, "https://127.0.0.1:2381", "https://[::1]:2381"),
        crl_file="c.crl",
        peer_crl_file="p.crl",
        cipher_suites=("TLS_AES_128_GCM_SHA256",),
        auto_tls=True,
        data_dir="m.etcd",
        client_allowed_hostname="client.example",
        peer_allowed_cn="peer-cn",
        peer_skip_san=True,
    )


def test_ipv6_url_hosts_are_matched_without_brackets(material: Material) -> None:
    build_tls(mutual(material, advertise_client_urls=("https://[::1]:2379",)))
    settings = mutual(material, advertise_client_urls=("https://[::2]:2379",))
    (problem,) = problems_of(settings)
    assert f"server certificate {material.server.cert}: no SAN for host ::2 " in problem


def _tls12_names(ctx: ssl.SSLContext | None) -> set[str]:
    assert ctx is not None
    return {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}


def test_cipher_suites_apply_to_both_listeners_and_the_dialer(material: Material) -> None:
    suites = ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256")
    setup = build_tls(mutual(material, cipher_suites=suites))
    for ctx in (setup.client_ssl, setup.peer_server_ssl, setup.peer_client_ssl()):
        assert _tls12_names(ctx) == {"ECDHE-ECDSA-AES256-GCM-SHA384"}
    only13 = build_tls(mutual(material, cipher_suites=("TLS_AES_128_GCM_SHA256",)))
    assert only13.client_ssl is not None
    assert only13.client_ssl.minimum_version == ssl.TLSVersion.TLSv1_3


def test_cipher_and_name_problems_are_reported_together(material: Material) -> None:
    settings = mutual(
        material, cipher_suites=("NOPE",), peer_allowed_cn="a", peer_allowed_hostname="b"
    )
    assert problems_of(settings) == [
        'unexpected TLS cipher suite "NOPE"',
        'AllowedCN and AllowedHostname are mutually exclusive (cn="a", hostname="b")',
    ]


def test_auto_tls_replaces_the_side_and_keeps_its_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TLSSettings(
        listen_client_urls=(CLIENT,),
        advertise_client_urls=("https://etcd-0.example:2379",),
        listen_peer_urls=(PEER,),
        advertise_peer_urls=(PEER,),
        cluster_peer_urls=(PEER,),
        auto_tls=True,
        peer_auto_tls=True,
        peer_crl_file="/nonexistent.crl",
        data_dir=str(tmp_path),
    )
    setup = build_tls(settings)
    assert setup.client is not None and setup.client_ssl is not None
    assert setup.client_ssl.verify_mode == ssl.CERT_NONE
    dialer = setup.peer_client_ssl()
    assert dialer is not None and dialer.verify_mode == ssl.CERT_NONE and not dialer.check_hostname
    fixtures = tmp_path / "fixtures"
    cert = (fixtures / "peer" / "cert.pem").read_bytes()
    assert (fixtures / "client" / "key.pem").exists()
    assert "--peer-crl-file ignored" in caplog.text
    build_tls(settings)
    assert (fixtures / "peer" / "cert.pem").read_bytes() == cert


def test_auto_tls_with_certificate_files_is_ignored(
    material: Material, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = build_tls(mutual(material, auto_tls=True, peer_auto_tls=True, data_dir=str(tmp_path)))
    assert setup.client is not None and str(material.server.cert) in setup.client.files
    assert "ignoring client auto TLS since certs given" in caplog.text
    assert "ignoring peer auto TLS since certs given" in caplog.text
    assert not (tmp_path / "fixtures").exists()
