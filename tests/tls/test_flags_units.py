"""The pure parts of the TLS flags: cipher names, CRL and allowed-name checks, auto-TLS files."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from raft.aio.listen_errors import bind_error_text
from tests.tls.helpers import SERVICE, Leaf, Material, echo_server, roundtrip
from tls.ciphers import GO_SUITES, openssl_ciphers
from tls.contexts import CIPHERS_TLS12, TLSMaterialError, client_context, server_context
from tls.selfcert import ensure_self_cert
from tls.verify import AUTH_FAILED, CertPolicy, check_on_handshake, load_crl, refusal


def _der(leaf: Leaf) -> bytes:
    cert = x509.load_pem_x509_certificate(leaf.cert.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def _serial(leaf: Leaf) -> int:
    return x509.load_pem_x509_certificate(leaf.cert.read_bytes()).serial_number


def test_go_names_map_in_order_and_aliases_fold() -> None:
    names = [
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]
    assert openssl_ciphers(names) == "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
    assert openssl_ciphers([]) == CIPHERS_TLS12
    assert openssl_ciphers(["TLS_AES_128_GCM_SHA256"]) == ""
    assert len(GO_SUITES) == 27  # Go 1.19: 17 secure + 8 insecure suites, 2 aliases


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "FOO"], 'unexpected TLS cipher suite "FOO"'),
        ([""], 'unexpected TLS cipher suite ""'),
        (["TLS_RSA_WITH_RC4_128_SHA"], "--cipher-suites: TLS_RSA_WITH_RC4_128_SHA is not"),
    ],
)
def test_bad_cipher_names(names: list[str], problem: str) -> None:
    with pytest.raises(TLSMaterialError) as info:
        openssl_ciphers(names)
    assert info.value.problems[0].startswith(problem)


async def test_tls13_only_suites_refuse_tls12_clients(material: Material) -> None:
    server = server_context(str(material.server.cert), str(material.server.key), ciphers="")
    tls12 = client_context(str(material.ca.cert))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    async with echo_server(server) as echo:
        assert await roundtrip(echo.port, client_context(str(material.ca.cert)), SERVICE) == "ok"
        assert await roundtrip(echo.port, tls12, SERVICE) != "ok"


def _crl(path: Path, material: Material, serials: list[int], *, der: bool = False) -> None:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(material.ca.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
    )
    for number in serials:
        entry = x509.RevokedCertificateBuilder().serial_number(number).revocation_date(now)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(material.ca.key, hashes.SHA256())
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    path.write_bytes(crl.public_bytes(encoding))


@pytest.mark.parametrize("der", [False, True])
def test_crl_serials_refuse_certificates(material: Material, tmp_path: Path, der: bool) -> None:
    crl = tmp_path / "c.crl"
    _crl(crl, material, [_serial(material.other_client), 0x1F], der=der)
    policy = CertPolicy(revoked=load_crl(str(crl), "server CRL file"))
    number = _serial(material.other_client)
    expected = number.to_bytes((number.bit_length() + 7) // 8, "big").hex()
    assert refusal(policy, _der(material.other_client)) == (
        f"transport: certificate serial {expected} revoked"
    )
    assert refusal(policy, _der(material.other_client), crl=False) == ""
    assert refusal(policy, _der(material.client)) == ""
    assert refusal(policy, None) == ""


def test_unreadable_and_garbage_crls_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "g.crl"
    garbage.write_bytes(b"nonsense")
    with pytest.raises(TLSMaterialError, match=f"peer CRL file {garbage}: not a PEM or DER"):
        load_crl(str(garbage), "peer CRL file")
    with pytest.raises(TLSMaterialError, match="cannot read"):
        load_crl(str(tmp_path / "missing.crl"), "peer CRL file")


def test_allowed_cn_and_hostname(material: Material) -> None:
    peer, client = _der(material.peer), _der(material.client)
    assert refusal(CertPolicy(allowed_cn="clientName"), client) == ""
    assert refusal(CertPolicy(allowed_cn="clientName"), peer) == AUTH_FAILED
    hostname = CertPolicy(allowed_hostname=f"etcd-0.{SERVICE}")
    assert refusal(hostname, peer) == ""  # the wildcard SAN covers it
    assert refusal(hostname, client) == AUTH_FAILED  # no SAN at all


async def test_a_dialer_refuses_a_server_without_the_allowed_cn(material: Material) -> None:
    server = server_context(str(material.server.cert), str(material.server.key))
    async with echo_server(server) as echo:
        for cn, outcome in ((SERVICE, "ok"), ("someone-else", "handshake: ")):
            ctx = client_context(str(material.ca.cert))
            check_on_handshake(ctx, lambda cn=cn: CertPolicy(allowed_cn=cn))  # type: ignore[misc]
            result = await roundtrip(echo.port, ctx, SERVICE)
            assert result.startswith(outcome), result
            if outcome != "ok":
                assert AUTH_FAILED in result


def test_self_signed_certificate_is_etcds_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "fixtures" / "peer"
    made = ensure_self_cert(str(directory), ["127.0.0.1", "localhost", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate(Path(made.cert_file).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp521r1"
    assert Path(made.key_file).stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    before = Path(made.cert_file).read_bytes()
    assert ensure_self_cert(str(directory), ["10.0.0.1"]) == made
    assert Path(made.cert_file).read_bytes() == before
    server = server_context(made.cert_file, made.key_file)
    assert server.verify_mode == ssl.CERT_NONE


def test_an_unwritable_fixtures_directory_is_one_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TLSMaterialError, match="cannot write the auto-TLS certificate"):
        ensure_self_cert(str(blocker / "client"), ["127.0.0.1"])


@pytest.mark.parametrize(
    ("host", "errno", "line"),
    [
        ("127.0.0.1", 98, "listen tcp 127.0.0.1:2379: bind: address already in use"),
        ("localhost", 98, "listen tcp 127.0.0.1:2379: bind: address already in use"),
        ("::1", 99, "listen tcp [::1]:2379: bind: cannot assign requested address"),
        ("10.0.0.1", 13, "listen tcp 10.0.0.1:2379: bind: permission denied"),
    ],
)
def test_bind_errors_in_gos_words(host: str, errno: int, line: str) -> None:
    assert bind_error_text(host, 2379, OSError(errno, "ignored")) == line
