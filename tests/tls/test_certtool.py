"""`pyetcd-certs` end to end: the README's certstrap steps, quickstart, check, bad input."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.tls.helpers import SERVICE, echo_server, roundtrip
from tls.certtool import main
from tls.contexts import client_context, server_context

FAST = ["--key-type", "ecdsa"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return out


def _fails(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 1) -> str:
    got, _, err = _run(capsys, *argv)
    assert got == code
    assert err.startswith("pyetcd-certs: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def _mode(path: str) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def _cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _sans(path: str) -> list[str]:
    san = _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def test_readme_steps_write_certstraps_file_names(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ok(capsys, "init", "--common-name", "etcdCA", *FAST)
    assert out.splitlines() == ["Created out/etcdCA.key", "Created out/etcdCA.crt"]
    domains = f"*.{SERVICE},{SERVICE}"
    out = _ok(capsys, "request-cert", "--common-name", SERVICE, "--domain", domains, *FAST)
    assert out.splitlines() == [f"Created out/{SERVICE}.key", f"Created out/{SERVICE}.csr"]
    out = _ok(capsys, "sign", SERVICE, "--CA", "etcdCA")
    assert out == f"Created out/{SERVICE}.crt from out/{SERVICE}.csr signed by out/etcdCA.key\n"
    _ok(capsys, "request-cert", "--common-name", "clientName", *FAST)
    _ok(capsys, "sign", "clientName", "--CA", "etcdCA")

    for key in ("out/etcdCA.key", f"out/{SERVICE}.key", "out/clientName.key"):
        assert _mode(key) == 0o600
    assert _mode(f"out/{SERVICE}.crt") == 0o644
    assert _sans(f"out/{SERVICE}.crt") == [f"*.{SERVICE}", SERVICE]
    ca = _cert("out/etcdCA.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    client = _cert("out/clientName.crt")
    assert client.issuer == ca.subject
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    cert, key = f"out/{SERVICE}.crt", f"out/{SERVICE}.key"
    check = f"check --cert {cert} --key {key} --ca out/etcdCA.crt --host etcd-0.{SERVICE}"
    checked = _ok(capsys, *check.split())
    assert checked.startswith("OK: ")


def test_peer_depot_and_wildcard_file_names(capsys: pytest.CaptureFixture[str]) -> None:
    wildcard = f"*.{SERVICE}"
    _ok(capsys, "--depot-path", "peer", "init", "--common-name", "peerCA", *FAST)
    request = f"--depot-path peer request-cert --common-name {wildcard} --ip 127.0.0.1,::1"
    out = _ok(capsys, *request.split(), "--domain", f"{wildcard},{SERVICE}", *FAST)
    assert out.splitlines() == [f"Created peer/_.{SERVICE}.key", f"Created peer/_.{SERVICE}.csr"]
    _ok(capsys, "sign", wildcard, "--CA", "peerCA", "--depot-path", "peer")
    assert _sans(f"peer/_.{SERVICE}.crt") == [wildcard, SERVICE, "127.0.0.1", "::1"]
    assert _cert(f"peer/_.{SERVICE}.crt").subject.rfc4514_string() == f"CN={wildcard}"
    _ok(capsys, "request-cert", "--common-name", "ops team", "--depot-path", "peer", *FAST)
    _ok(capsys, "--depot-path", "peer", "sign", "ops team", "--CA", "peerCA")
    assert Path("peer/ops_team.crt").exists()
    assert not Path("out").exists()


def test_passphrases_rsa_and_lifetimes(capsys: pytest.CaptureFixture[str]) -> None:
    init = "init --common-name lockedCA --passphrase s3cret"
    _ok(capsys, *init.split(), "--expires", "30 days")
    key_pem = Path("out/lockedCA.key").read_bytes()
    assert b"ENCRYPTED" in key_pem
    assert isinstance(serialization.load_pem_private_key(key_pem, b"s3cret"), rsa.RSAPrivateKey)
    ca = _cert("out/lockedCA.crt")
    life = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=30) <= life <= dt.timedelta(days=30, minutes=10)
    _ok(capsys, "request-cert", "--common-name", "node", "--passphrase", "p", *FAST)
    assert b"ENCRYPTED" in Path("out/node.key").read_bytes()
    assert "key is encrypted; give --passphrase" in _fails(
        capsys, "sign", "node", "--CA", "lockedCA"
    )
    err = _fails(capsys, "sign", "node", "--CA", "lockedCA", "--passphrase", "wrong")
    assert "wrong passphrase" in err
    err = _fails(capsys, "sign", "node", "--CA", "lockedCA", "--passphrase", "s3cret")
    assert "would outlive its CA" in err
    _ok(capsys, "sign", "node", "--CA", "lockedCA", "--passphrase", "s3cret", "--expires", "1 week")
    leaf = _cert("out/node.crt")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=7, minutes=10)


def test_bad_input_is_one_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert "bad lifetime 'forever'" in _fails(
        capsys, "init", "--common-name", "a", "--expires", "forever", *FAST
    )
    assert "does not appear to be an IPv4 or IPv6" in _fails(
        capsys, "request-cert", "--common-name", "a", "--ip", "999.1.1.1", *FAST
    )
    assert "RSA key size must be one of" in _fails(
        capsys, "init", "--common-name", "a", "--key-bits", "1024"
    )
    assert "ECDSA key size" in _fails(
        capsys, "init", "--common-name", "a", *FAST, "--key-bits", "1"
    )
    assert "invalid choice: 'dsa'" in _fails(
        capsys, "init", "--common-name", "a", "--key-type", "dsa", code=2
    )
    assert "--common-name" in _fails(capsys, "init", code=2)
    assert "invalid choice" in _fails(capsys, "frobnicate", code=2)
    assert "must not be empty" in _fails(capsys, "init", "--common-name", "", *FAST)
    err = _fails(capsys, "sign", "nobody", "--CA", "etcdCA")
    assert "cannot read out/nobody.csr: No such file or directory" in err
    _ok(capsys, "init", "--common-name", "etcdCA", *FAST)
    before = Path("out/etcdCA.crt").read_bytes()
    err = _fails(capsys, "init", "--common-name", "etcdCA", *FAST)
    assert "out/etcdCA.key already exists; refusing to overwrite it" in err
    assert Path("out/etcdCA.crt").read_bytes() == before
    Path("out/junk.csr").write_text("junk")
    assert "out/junk.csr: not a PEM certificate request" in _fails(
        capsys, "sign", "junk", "--CA", "etcdCA"
    )
    Path("out/brokenCA.crt").write_text("junk")
    _ok(capsys, "request-cert", "--common-name", "x", *FAST)
    assert "out/brokenCA.crt: not a PEM certificate" in _fails(
        capsys, "sign", "x", "--CA", "brokenCA"
    )
    assert "check needs --cert and --key" in _fails(capsys, "check", "--cert", "a.crt")
    _ok(capsys, "init", "--common-name", "twinCA", *FAST)
    Path("out/twinCA.key").unlink()
    Path("out/twinCA.key").write_bytes(Path("out/etcdCA.key").read_bytes())
    assert "out/twinCA.key is not the key of out/twinCA.crt" in _fails(
        capsys, "sign", "x", "--CA", "twinCA"
    )


async def test_quickstart_output_makes_working_mtls(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ok(capsys, "quickstart", "--ip", "127.0.0.1", *FAST)
    created = sorted(line.split()[1] for line in out.splitlines() if line.startswith("Created"))
    server, peer = f"out/{SERVICE}", f"peer/_.{SERVICE}"
    assert created == sorted(
        [
            "out/etcdCA.key",
            "out/etcdCA.crt",
            "out/clientName.key",
            "out/clientName.csr",
            "out/clientName.crt",
            f"{server}.key",
            f"{server}.csr",
            f"{server}.crt",
            "peer/peerCA.key",
            "peer/peerCA.crt",
            f"{peer}.key",
            f"{peer}.csr",
            f"{peer}.crt",
        ]
    )
    assert all(_mode(path) == 0o600 for path in created if path.endswith(".key"))
    assert "--peer-trusted-ca-file peer/peerCA.crt" in out
    assert _cert(f"{server}.crt").subject.rfc4514_string() == f"CN={SERVICE}"
    assert _cert(f"{peer}.crt").subject.rfc4514_string() == f"CN=*.{SERVICE}"
    assert _sans(f"{server}.crt") == [SERVICE, f"*.{SERVICE}", "127.0.0.1"]

    listener = server_context(f"{server}.crt", f"{server}.key", "out/etcdCA.crt", True)
    client = client_context("out/etcdCA.crt", "out/clientName.crt", "out/clientName.key")
    async with echo_server(listener) as srv:
        assert await roundtrip(srv.port, client, f"etcd-0.{SERVICE}") == "ok"
        assert await roundtrip(srv.port, client, "127.0.0.1") == "ok"
    peer_listener = server_context(f"{peer}.crt", f"{peer}.key", "peer/peerCA.crt", True)
    dialer = client_context("peer/peerCA.crt", f"{peer}.crt", f"{peer}.key")
    async with echo_server(peer_listener) as srv:
        assert await roundtrip(srv.port, dialer, f"etcd-2.{SERVICE}") == "ok"
        assert await roundtrip(srv.port, client, f"etcd-2.{SERVICE}") != "ok"

    err = _fails(capsys, "quickstart", *FAST)
    assert "already exists" in err


def test_check_reports_one_line_per_problem(capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "quickstart", *FAST)
    server = f"out/{SERVICE}"
    check = f"check --cert {server}.crt --key out/clientName.key --ca peer/peerCA.crt"
    code, out, _ = _run(capsys, *check.split(), "--host", "10.1.2.3")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("server key out/clientName.key: does not match certificate")
    assert "not signed by any CA in peer/peerCA.crt" in lines[1]
    assert "no SAN for host 10.1.2.3" in lines[2]
    client = "check --client --ca out/etcdCA.crt --cert out/clientName.crt --key out/clientName.key"
    assert _ok(capsys, *client.split()).startswith("OK")
    code, out, _ = _run(capsys, "check", "--client", "--ca", "out/nope.crt")
    assert (code, out.count("\n")) == (1, 1)
    assert "client CA file out/nope.crt: cannot read" in out


def test_console_entry_point_exits_cleanly(in_tmp: Path) -> None:
    cmd = [sys.executable, "-m", "tls.certtool", "sign", "nobody", "--CA", "etcdCA"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=in_tmp)
    assert done.returncode == 1
    assert done.stderr == (
        "pyetcd-certs: error: cannot read out/nobody.csr: No such file or directory\n"
    )
    help_run = subprocess.run(
        [sys.executable, "-m", "tls.certtool", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_run.returncode == 0
    for command in ("init", "request-cert", "sign", "quickstart", "check"):
        assert command in help_run.stdout
