"""pyetcd refuses to start on bad TLS material: exit 1, one line per problem, nothing served."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tests import procs
from tests.tls.helpers import Pki as LeafMaker
from tests.tls_cluster.cluster import HOST, SERVICE, Pki, make_pki

START_TIMEOUT = 60


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("startup-certs"))


@pytest.fixture(scope="module")
def maker(certs: Pki) -> LeafMaker:
    root = certs.root / "extra"
    root.mkdir()
    return LeafMaker(root)


def run_pyetcd(
    tmp: Path, flags: dict[str, str], peer_host: str = HOST
) -> subprocess.CompletedProcess[str]:
    client = f"https://{HOST}:{procs.free_port()}"
    peer_port = procs.free_port()
    peer = f"https://{peer_host}:{peer_port}"
    argv = [
        sys.executable, "-m", "pyetcd", "--name", "m0", "--data-dir", str(tmp / "data"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", f"https://{HOST}:{peer_port}",
        "--initial-advertise-peer-urls", peer, "--initial-cluster", f"m0={peer}",
    ]  # fmt: skip
    for flag, value in flags.items():
        argv += [f"--{flag}"] if value == "" else [f"--{flag}", value]
    return subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT)


def good(certs: Pki) -> dict[str, str]:
    return {
        "cert-file": str(certs.server_cert),
        "key-file": str(certs.server_key),
        "trusted-ca-file": str(certs.ca),
        "client-cert-auth": "",
        "peer-cert-file": str(certs.peer_cert),
        "peer-key-file": str(certs.peer_key),
        "peer-trusted-ca-file": str(certs.peer_ca),
        "peer-client-cert-auth": "",
    }


def refusal_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, result.stderr
    return [line for line in result.stderr.splitlines() if " C | " in line]


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.pem"
    path.write_text("this is not PEM\n")
    return path


def test_expired_server_certificate(certs: Pki, maker: LeafMaker, tmp_path: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    old = maker.leaf(certs.authority(), SERVICE, [SERVICE], [HOST], not_before=long_ago)
    result = run_pyetcd(
        tmp_path, {**good(certs), "cert-file": str(old.cert), "key-file": str(old.key)}
    )
    (line,) = refusal_lines(result)
    assert f"server certificate {old.cert}: expired on " in line


def test_certificate_from_another_ca(certs: Pki, maker: LeafMaker, tmp_path: Path) -> None:
    foreign = maker.leaf(maker.ca("otherCA"), SERVICE, [SERVICE], [HOST])
    flags = {**good(certs), "peer-cert-file": str(foreign.cert), "peer-key-file": str(foreign.key)}
    (line,) = refusal_lines(run_pyetcd(tmp_path, flags))
    assert f"peer certificate {foreign.cert}: not signed by any CA in {certs.peer_ca}" in line


def test_key_mismatch_and_bad_pem(certs: Pki, garbage: Path, tmp_path: Path) -> None:
    flags = {**good(certs), "key-file": str(certs.client_key), "peer-trusted-ca-file": str(garbage)}
    lines = refusal_lines(run_pyetcd(tmp_path, flags))
    assert len(lines) == 2, lines
    assert (
        f"server key {certs.client_key}: does not match certificate {certs.server_cert}" in lines[0]
    )
    assert f"peer CA file {garbage}: no PEM certificate in the file" in lines[1]


def test_unreadable_file(certs: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.crt"
    (line,) = refusal_lines(run_pyetcd(tmp_path, {**good(certs), "cert-file": str(missing)}))
    assert f"--cert-file: cannot read {missing}: no such file" in line


def test_peer_certificate_without_its_url_host(certs: Pki, tmp_path: Path) -> None:
    """The member advertising https://localhost:... holds a certificate only for 127.0.0.1 and
    the service names: its peers could not verify it, so it does not start."""
    (line,) = refusal_lines(run_pyetcd(tmp_path, good(certs), peer_host="localhost"))
    assert f"peer certificate {certs.peer_cert}: no SAN for host localhost" in line


def test_https_without_certificate_files(tmp_path: Path) -> None:
    lines = refusal_lines(run_pyetcd(tmp_path, {}))
    assert len(lines) == 2, lines
    assert "client URL https://127.0.0.1:" in lines[0]
    assert lines[0].endswith("is https but --cert-file and --key-file are not both given")
    assert "peer URL https://127.0.0.1:" in lines[1]
    assert lines[1].endswith("is https but --peer-cert-file and --peer-key-file are not both given")
