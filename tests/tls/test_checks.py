"""Every startup-check message, one line naming the file and the problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.tls.helpers import CA, SERVICE, SPEC, YEAR, Leaf, Material, Pki
from tls.authority import cert_pem, create_csr, key_pem
from tls.checks import check_client_material, check_server_material, host_matches

NOW = dt.datetime.now(dt.UTC)
ODD_KEY = b"-----BEGIN PRIVATE KEY-----\nMA0CAQAwBQYDKgMEBAEA\n-----END PRIVATE KEY-----\n"


def _server(m: Material, leaf: Leaf | None = None, ca: Path | None = None, **kw) -> list[str]:
    leaf = leaf or m.server
    return check_server_material(str(leaf.cert), str(leaf.key), str(ca or m.ca.cert), **kw)


def _only(problems: list[str], *parts: str) -> str:
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    for part in parts:
        assert part in problems[0], problems[0]
    return problems[0]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_good_material_has_no_problems(material: Material) -> None:
    m = material
    hosts = [SERVICE, f"etcd-0.{SERVICE}", "127.0.0.1", "::1"]
    assert _server(m, hosts=hosts) == []
    assert _server(m, m.peer, hosts=[f"etcd-2.{SERVICE}"], label="peer") == []
    assert check_client_material(str(m.ca.cert), str(m.client.cert), str(m.client.key)) == []
    assert (
        check_client_material(str(m.bundle), str(m.other_client.cert), str(m.other_client.key))
        == []
    )
    assert check_client_material(str(m.ca.cert)) == []
    assert check_client_material(None) == []


def test_unreadable_files(material: Material, tmp_path: Path) -> None:
    m, missing = material, str(tmp_path / "gone.crt")
    _only(
        _server(m, Leaf(Path(missing), m.server.key)), f"server certificate {missing}: cannot read"
    )
    _only(_server(m, Leaf(m.server.cert, tmp_path)), f"server key {tmp_path}: cannot read")
    _only(
        check_client_material(missing, str(m.client.cert), str(m.client.key), label="peer"),
        f"peer CA file {missing}: cannot read: No such file or directory",
    )


def test_bad_pem(material: Material, tmp_path: Path) -> None:
    m = material
    junk = _write(tmp_path / "junk.crt", b"hello\n")
    pem = m.server.cert.read_bytes()
    half = _write(tmp_path / "half.crt", pem[: len(pem) // 2])
    tail = _write(tmp_path / "tail.crt", m.ca.pem + m.other_ca.pem[:200])
    corrupt = _write(tmp_path / "bad.crt", pem.replace(pem[100:120], b"A" * 20))
    _only(
        _server(m, Leaf(Path(junk), m.server.key)), f"server certificate {junk}: no PEM certificate"
    )
    for bad in (half, corrupt):
        _only(_server(m, Leaf(Path(bad), m.server.key)), f"{bad}: malformed PEM certificate")
    _only(_server(m, ca=Path(tail)), f"server CA file {tail}: malformed PEM certificate")
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    ski, eku = b"\x06\x03\x55\x1d\x0e", b"\x06\x03\x55\x1d\x25"
    twice = x509.load_der_x509_certificate(der.replace(ski, eku))
    dup = _write(tmp_path / "dup.crt", cert_pem(twice))
    _only(_server(m, Leaf(Path(dup), m.server.key)), f"{dup}: certificate #1 cannot be parsed")


def test_bad_keys(material: Material, tmp_path: Path) -> None:
    m = material
    key = m.server.key.read_bytes()
    nokey = _write(tmp_path / "none.key", m.server.cert.read_bytes())
    broken = _write(tmp_path / "broken.key", key[:60] + key[90:])
    locked = _write(tmp_path / "locked.key", key_pem(SPEC.generate(), "secret"))
    odd = _write(tmp_path / "odd.key", ODD_KEY)
    _only(_server(m, Leaf(m.server.cert, Path(nokey))), f"server key {nokey}: no PEM private key")
    _only(_server(m, Leaf(m.server.cert, Path(broken))), f"{broken}: malformed PEM private key")
    _only(_server(m, Leaf(m.server.cert, Path(locked))), f"{locked}: encrypted with a passphrase")
    _only(_server(m, Leaf(m.server.cert, Path(odd))), f"{odd}: unsupported private key type")


def test_key_not_matching_its_certificate(material: Material) -> None:
    m = material
    line = _only(_server(m, Leaf(m.server.cert, m.client.key)), f"server key {m.client.key}")
    assert f"does not match certificate {m.server.cert}" in line
    line = _only(check_client_material(str(m.ca.cert), str(m.client.cert), str(m.peer.key)))
    assert line.startswith(f"client key {m.peer.key}: does not match")


def test_certificate_not_signed_by_the_configured_ca(material: Material) -> None:
    m = material
    _only(
        _server(m, ca=m.other_ca.cert),
        f"server certificate {m.server.cert}: not signed by any CA in {m.other_ca.cert}",
        "issuer CN=etcdCA",
    )
    _only(
        check_client_material(str(m.ca.cert), str(m.other_client.cert), str(m.other_client.key)),
        f"client certificate {m.other_client.cert}: not signed by any CA in {m.ca.cert}",
    )


def test_expired_and_not_yet_valid(material: Material, pki: Pki) -> None:
    m = material
    line = _only(_server(m, m.expired_server), f"server certificate {m.expired_server.cert}")
    assert "expired on" in line
    future = pki.leaf(m.ca, SERVICE, [SERVICE], not_before=NOW + YEAR)
    _only(_server(m, future), f"server certificate {future.cert}: not valid before")
    later = NOW + 2 * YEAR
    _only(
        check_client_material(str(m.ca.cert), now=later),
        f"client CA file {m.ca.cert}: every CA certificate in it has expired",
    )
    _only(
        check_client_material(
            str(m.ca.cert), str(m.expired_client.cert), str(m.expired_client.key)
        ),
        f"client certificate {m.expired_client.cert}: expired on",
    )


def test_expired_signing_ca(pki: Pki, tmp_path: Path) -> None:
    old = pki.ca("retiredCA", not_before=NOW - 2 * YEAR, life=YEAR)
    leaf = pki.leaf(old, SERVICE, [SERVICE], not_before=NOW - dt.timedelta(days=1), life=YEAR)
    fresh = pki.ca("freshCA")
    bundle = _write(tmp_path / "bundle.crt", old.pem + fresh.pem)
    problems = check_server_material(str(leaf.cert), str(leaf.key), bundle, [SERVICE])
    _only(problems, f"server certificate {leaf.cert}: its CA CN=retiredCA in {bundle} expired on")


def test_server_certificate_without_the_advertised_host(material: Material) -> None:
    m = material
    _only(
        _server(m, hosts=[f"etcd-0.{SERVICE}", "etcd.service.consul", "127.0.0.1"]),
        f"server certificate {m.server.cert}: no SAN for host etcd.service.consul",
    )
    problems = _server(m, hosts=["etcd.service.consul", "10.0.0.9"])
    assert len(problems) == 2 and "no SAN for host 10.0.0.9 (SANs: " in problems[1]
    _only(
        _server(m, m.client, hosts=[SERVICE]),
        f"server certificate {m.client.cert}: no subjectAltName",
    )


def _with_usage(pki: Pki, ca: CA, usage: x509.ObjectIdentifier) -> Leaf:
    key = SPEC.generate()
    csr = create_csr(key, SERVICE, [SERVICE])
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + YEAR)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVICE)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    leaf = Leaf(pki.root / f"usage-{usage.dotted_string}.crt", pki.root / f"{usage}.key")
    leaf.cert.write_bytes(cert_pem(cert))
    leaf.key.write_bytes(key_pem(key))
    return leaf


def test_extended_key_usage_must_allow_the_role(material: Material, pki: Pki) -> None:
    m = material
    client_only = _with_usage(pki, m.ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    server_only = _with_usage(pki, m.ca, ExtendedKeyUsageOID.SERVER_AUTH)
    _only(_server(m, client_only, label="peer"), "does not allow serverAuth")
    assert _server(m, server_only) == []
    _only(
        check_client_material(str(m.ca.cert), str(server_only.cert), str(server_only.key)),
        f"client certificate {server_only.cert}: extended key usage does not allow clientAuth",
    )


def test_intermediate_chain_in_the_certificate_file(material: Material, pki: Pki) -> None:
    m = material
    inter_key = SPEC.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intermediate")])
    inter = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(m.ca.certificate.subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(m.ca.key, hashes.SHA256())
    )
    issuer = CA("intermediate", pki.root / "intermediate.crt", inter_key, inter)
    leaf = pki.leaf(issuer, SERVICE, [SERVICE])
    alone = leaf.cert.read_bytes()
    _only(_server(m, leaf), "not signed by any CA", "issuer CN=intermediate")
    leaf.cert.write_bytes(alone + cert_pem(inter))
    assert _server(m, leaf, hosts=[SERVICE]) == []


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (SERVICE, True),
        (f"{SERVICE}.", True),
        (f"Etcd-0.{SERVICE}", True),
        (f"a.b.{SERVICE}", False),
        (f".{SERVICE}", False),
        ("cf.internal", False),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::2", False),
        ("127.0.0.2", False),
    ],
)
def test_host_matching(material: Material, host: str, ok: bool) -> None:
    cert = x509.load_pem_x509_certificate(material.server.cert.read_bytes())
    assert host_matches(cert, host) is ok


def test_every_problem_is_reported_at_once(material: Material, tmp_path: Path) -> None:
    m = material
    problems = check_server_material(
        str(m.expired_server.cert), str(m.client.key), str(m.other_ca.cert), ["nope.example"]
    )
    assert len(problems) == 4
    assert all(str(m.expired_server.cert) in p or str(m.client.key) in p for p in problems)
