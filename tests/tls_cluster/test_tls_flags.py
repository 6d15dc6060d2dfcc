"""etcd 3.4.23's TLS flags, each run the same way against etcd and pyetcd: same outcomes.

--cipher-suites, --client-crl-file / --peer-crl-file, --auto-tls / --peer-auto-tls, the allowed
CN and hostname flags, --experimental-peer-skip-client-san-verification, both schemes on one
client port, and etcd's line for a busy port.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import procs
from tests.tls.helpers import CA, Leaf, Pki
from tests.tls_cluster.flagged import (
    HOST,
    RELOAD_WAIT,
    client_context,
    get,
    member,
    refusal,
    run_to_end,
    stays_open,
    wait_for,
    write_crl,
)

IMPLS = ("etcd", "pyetcd")
pytestmark = pytest.mark.skipif(
    shutil.which(procs.ETCD_BINARY) is None,
    reason="NOT RUN: these tests compare with etcd 3.4.23 (Debian etcd-server), not installed",
)
ROOT_LISTING = '{"action":"get","node":{"dir":true}}\n'
REJECTED = re.compile(r'rejected connection from "[^"]+" \(error "((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Certs:
    root: Path
    ca: CA
    server: Leaf
    alice: Leaf  # SAN ok.example and 127.0.0.1, CN alice
    mallory: Leaf  # SAN 127.0.0.1, CN mallory: the one the CRL revokes
    far: Leaf  # SAN 10.9.8.7 only: not the address it connects from
    by_name: Leaf  # DNS SAN localhost only: 127.0.0.1 reverse-resolves to it
    wildcard: Leaf  # DNS SAN *.example.test only: nothing resolves to it

    def server_flags(self, side: str = "") -> list[str]:
        return [
            f"--{side}cert-file", str(self.server.cert), f"--{side}key-file", str(self.server.key),
            f"--{side}trusted-ca-file", str(self.ca.cert), f"--{side}client-cert-auth",
        ]  # fmt: skip

    def client(self, leaf: Leaf | None, ciphers: str | None = None) -> ssl.SSLContext:
        return client_context(self.ca.cert, leaf, ciphers=ciphers)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    root = tmp_path_factory.mktemp("tlsflags")
    pki = Pki(root)
    ca = pki.ca("flagsCA")
    return Certs(
        root=root,
        ca=ca,
        server=pki.leaf(ca, "server", ["localhost"], [HOST]),
        alice=pki.leaf(ca, "alice", ["ok.example"], [HOST]),
        mallory=pki.leaf(ca, "mallory", [], [HOST]),
        far=pki.leaf(ca, "far", [], ["10.9.8.7"]),
        by_name=pki.leaf(ca, "by-name", ["localhost"]),
        wildcard=pki.leaf(ca, "wildcard", ["*.example.test"]),
    )


# -- --cipher-suites ---------------------------------------------------------------------------

SUITES = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
CLIENT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
)


def cipher_outcomes(impl: str, certs: Certs, flags: list[str]) -> tuple[dict[str, str], list[str]]:
    """What each client cipher got, and the reasons logged for the refused ones."""
    with member(impl, [*certs.server_flags(), *flags]) as running:
        outcomes = {
            cipher: get(running.client_port, certs.client(certs.alice, cipher))[:3]
            for cipher in CLIENT_CIPHERS
        }
        wait_for(lambda: len(REJECTED.findall(running.log())) >= 2, timeout=5)
        return outcomes, REJECTED.findall(running.log())


def test_cipher_suites_restrict_tls12_as_in_etcd(certs: Certs) -> None:
    flags = ["--cipher-suites", SUITES]
    etcd, pyetcd = (cipher_outcomes(impl, certs, flags) for impl in IMPLS)
    assert etcd == pyetcd
    assert etcd == (
        {
            "ECDHE-ECDSA-AES128-GCM-SHA256": "200",
            "ECDHE-ECDSA-CHACHA20-POLY1305": "200",
            "ECDHE-ECDSA-AES256-GCM-SHA384": "ref",
            "ECDHE-ECDSA-AES128-SHA": "ref",
        },
        ["tls: no cipher suite supported by both client and server"] * 2,
    )


def test_cipher_suites_leave_tls13_alone(certs: Certs) -> None:
    for impl in IMPLS:
        with member(impl, [*certs.server_flags(), "--cipher-suites", SUITES]) as running:
            assert get(running.client_port, certs.client(certs.alice)).startswith("200 "), impl


def test_an_unknown_cipher_suite_is_refused_with_etcds_line(certs: Certs) -> None:
    flags = [*certs.server_flags(), "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,FOO"]
    outcomes = {impl: refusal(impl, flags, peer_scheme="http") for impl in IMPLS}
    assert (
        outcomes["etcd"]
        == outcomes["pyetcd"]
        == (
            1,
            'C | etcdmain: unexpected TLS cipher suite "FOO"',
        )
    )


# -- CRL files -----------------------------------------------------------------------------------


def crl_outcomes(impl: str, certs: Certs, crl: Path) -> list[tuple[str, str]]:
    """Alice and Mallory before and after the CRL is rewritten to revoke Alice too."""
    write_crl(crl, certs.ca, [certs.mallory])
    flags = [*certs.server_flags(), "--client-crl-file", str(crl)]
    with member(impl, flags) as running:

        def outcome() -> tuple[str, ...]:
            clients = (certs.client(certs.alice), certs.client(certs.mallory))
            return tuple(get(running.client_port, ctx)[:3] for ctx in clients)

        seen = [outcome()]
        write_crl(crl, certs.ca, [certs.mallory, certs.alice], der=True)
        # etcd reads the CRL at every connection, pyetcd polls it once a second
        wait_for(lambda: outcome()[0] == "ref", timeout=RELOAD_WAIT)
        seen.append(outcome())
        if impl == "pyetcd":
            assert "rejected connection from" in running.log()
            assert "transport: certificate serial" in running.log()
    return seen


def test_client_crl_refuses_revoked_certificates_and_is_reread(
    certs: Certs, tmp_path: Path
) -> None:
    outcomes = {impl: crl_outcomes(impl, certs, tmp_path / f"{impl}.crl") for impl in IMPLS}
    assert outcomes["etcd"] == outcomes["pyetcd"] == [("200", "ref"), ("ref", "ref")]


def test_peer_crl_refuses_revoked_peers(certs: Certs, tmp_path: Path) -> None:
    crl = tmp_path / "peer.crl"
    write_crl(crl, certs.ca, [certs.mallory])
    flags = [*certs.server_flags("peer-"), "--peer-crl-file", str(crl)]
    for impl in IMPLS:
        with member(impl, flags, client_schemes=("http",), peer_scheme="https") as running:
            port = running.peer_port
            assert stays_open(port, certs.client(certs.alice)), impl
            assert not stays_open(port, certs.client(certs.mallory)), impl


def test_a_broken_crl_file_is_refused_at_start(certs: Certs, tmp_path: Path) -> None:
    """etcd starts and then refuses every client (it reads the CRL per connection); pyetcd
    does not start, naming the file."""
    crl = tmp_path / "garbage.crl"
    crl.write_text("not a CRL\n")
    flags = [*certs.server_flags(), "--client-crl-file", str(crl)]
    with member("etcd", flags) as running:
        assert get(running.client_port, certs.client(certs.alice)) == "refused"
    code, line = refusal("pyetcd", flags, peer_scheme="http")
    assert code == 1
    problem = f"server CRL file {crl}: not a PEM or DER certificate revocation list"
    assert line == f"C | etcdmain: {problem}"


# -- auto TLS ----------------------------------------------------------------------------------


def describe_self_cert(path: Path) -> tuple[object, ...]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    key = cert.public_key()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    return (
        cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value,
        isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name,
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
        list(usage),
        (cert.not_valid_after_utc - cert.not_valid_before_utc).days,
    )


def test_auto_tls_serves_with_a_generated_certificate_under_the_data_dir() -> None:
    seen = {}
    for impl in IMPLS:
        with member(impl, ["--auto-tls", "--peer-auto-tls"], peer_scheme="https") as running:
            assert get(running.client_port, client_context(None)) == f"200 {ROOT_LISTING}", impl
            fixtures = running.data_dir / "fixtures"
            assert (fixtures / "client" / "key.pem").stat().st_mode & 0o777 == 0o600
            seen[impl] = [describe_self_cert(fixtures / s / "cert.pem") for s in ("client", "peer")]
            assert stays_open(running.peer_port, client_context(None)), impl
    assert seen["etcd"] == seen["pyetcd"]


@pytest.mark.parametrize("impl", IMPLS)
def test_members_with_peer_auto_tls_form_a_cluster(impl: str, tmp_path: Path) -> None:
    """As etcd's e2e configAutoTLS: https peer URLs on localhost, nothing but --peer-auto-tls."""
    ports = [(procs.free_port(), procs.free_port()) for _ in range(3)]
    cluster = ",".join(f"t{i}=https://localhost:{p}" for i, (_, p) in enumerate(ports))
    started = []
    try:
        for i, (c, p) in enumerate(ports):
            args = [
                *procs.command(impl), "--name", f"t{i}", "--data-dir", str(tmp_path / f"d{i}"),
                "--enable-v2", "--listen-client-urls", f"http://localhost:{c}",
                "--advertise-client-urls", f"http://localhost:{c}",
                "--listen-peer-urls", f"https://localhost:{p}",
                "--initial-advertise-peer-urls", f"https://localhost:{p}",
                "--initial-cluster", cluster, "--initial-cluster-token", "new", "--peer-auto-tls",
            ]  # fmt: skip
            with open(tmp_path / f"t{i}.log", "wb") as log:
                started.append(
                    subprocess.Popen(
                        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        assert wait_for(lambda: get(ports[0][0], None, "/v2/keys/k?quorum=true")[:3] == "404")
        for c, _ in ports:
            assert get(c, None, "/health").startswith("200 "), (tmp_path / "t0.log").read_text()
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


# -- allowed CN and hostname -------------------------------------------------------------------


def test_client_cert_allowed_hostname(certs: Certs) -> None:
    flags = [*certs.server_flags(), "--client-cert-allowed-hostname", "ok.example"]
    for impl in IMPLS:
        with member(impl, flags) as running:
            assert get(running.client_port, certs.client(certs.alice)).startswith("200 "), impl
            assert get(running.client_port, certs.client(certs.mallory)) == "refused", impl


@pytest.mark.parametrize(
    "flag", [("--peer-cert-allowed-cn", "alice"), ("--peer-cert-allowed-hostname", "ok.example")]
)
def test_peer_cert_allowed_cn_and_hostname(certs: Certs, flag: tuple[str, str]) -> None:
    flags = [*certs.server_flags("peer-"), *flag]
    for impl in IMPLS:
        with member(impl, flags, client_schemes=("http",), peer_scheme="https") as running:
            assert stays_open(running.peer_port, certs.client(certs.alice)), impl
            assert not stays_open(running.peer_port, certs.client(certs.mallory)), impl


def test_allowed_cn_and_hostname_exclude_each_other(certs: Certs) -> None:
    flags = [
        *certs.server_flags("peer-"),
        "--peer-cert-allowed-cn", "alice", "--peer-cert-allowed-hostname", "ok.example",
    ]  # fmt: skip
    outcomes = {impl: refusal(impl, flags) for impl in IMPLS}
    assert outcomes["etcd"] == outcomes["pyetcd"], outcomes
    assert outcomes["etcd"][0] == 1


# -- peer certificate SANs against the peer's address --------------------------------------------


@pytest.mark.parametrize("skip", [False, True])
def test_peer_client_san_verification(certs: Certs, skip: bool) -> None:
    flags = [*certs.server_flags("peer-")]
    if skip:
        flags.append("--experimental-peer-skip-client-san-verification")
    logged = {}
    for impl in IMPLS:
        with member(impl, flags, client_schemes=("http",), peer_scheme="https") as running:
            port = running.peer_port
            assert stays_open(port, certs.client(certs.alice)), impl
            assert stays_open(port, certs.client(certs.by_name)), impl
            assert stays_open(port, certs.client(certs.far)) is skip, impl
            assert stays_open(port, certs.client(certs.wildcard)) is skip, impl
            logged[impl] = REJECTED.findall(running.log())
    assert logged["etcd"] == logged["pyetcd"]
    assert logged["etcd"] == (
        []
        if skip
        else [
            "x509: certificate is valid for 10.9.8.7, not 127.0.0.1",
            'tls: \\"127.0.0.1\\" does not match any of DNSNames [\\"*.example.test\\"]',
        ]
    )


# -- both schemes on one port, busy ports ------------------------------------------------------


def test_http_and_https_on_one_client_port(certs: Certs) -> None:
    answers = {}
    for impl in IMPLS:
        with member(impl, certs.server_flags(), client_schemes=("http", "https")) as running:
            answers[impl] = (
                get(running.client_port, None),
                get(running.client_port, certs.client(certs.alice)),
                get(running.client_port, certs.client(None)),
            )
    assert answers["etcd"] == answers["pyetcd"]
    assert answers["etcd"] == (f"200 {ROOT_LISTING}", f"200 {ROOT_LISTING}", "refused")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("listener", ["client", "peer"])
def test_a_busy_port_is_reported_in_etcds_words(
    busy_port: int, listener: str, tmp_path: Path
) -> None:
    free = procs.free_port()
    client, peer = (busy_port, free) if listener == "client" else (free, busy_port)
    outcomes = {}
    for impl in IMPLS:
        args = [
            *procs.command(impl), "--data-dir", str(tmp_path / impl),
            "--listen-client-urls", f"http://{HOST}:{client}",
            "--advertise-client-urls", f"http://{HOST}:{client}",
            "--listen-peer-urls", f"http://{HOST}:{peer}",
            "--initial-advertise-peer-urls", f"http://{HOST}:{peer}",
            "--initial-cluster", f"default=http://{HOST}:{peer}",
        ]  # fmt: skip
        outcomes[impl] = run_to_end(args)
    assert (
        outcomes["etcd"]
        == outcomes["pyetcd"]
        == (
            1,
            f"C | etcdmain: listen tcp {HOST}:{busy_port}: bind: address already in use",
        )
    )


def test_refused_handshakes_are_logged_in_etcds_words(certs: Certs, tmp_path: Path) -> None:
    maker = Pki(tmp_path)
    stranger = maker.leaf(maker.ca("strangerCA"), "stranger", [], [HOST])
    logged = {}
    for impl in IMPLS:
        with member(impl, certs.server_flags()) as running:
            assert get(running.client_port, certs.client(None)) == "refused"
            assert get(running.client_port, certs.client(stranger)) == "refused"
            assert get(running.client_port, None) == "refused"
            assert wait_for(lambda r=running: r.log().count("rejected connection from") >= 3)
            logged[impl] = REJECTED.findall(running.log())
    unknown_ca = "x509: certificate signed by unknown authority"
    assert logged["etcd"] == logged["pyetcd"]
    assert logged["etcd"] == [
        "tls: client didn't provide a certificate",
        f"tls: failed to verify client certificate: {unknown_ca}",
        "tls: first record does not look like a TLS handshake",
    ]
