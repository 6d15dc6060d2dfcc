"""`pyetcd-admin snapshot save` from a running pyetcd (v2 auth: root only; --client-cert-auth: a
verified certificate only) and `snapshot restore` of one file into a new three-member cluster;
a damaged file is refused."""

from __future__ import annotations

import base64
import http.client
import json
import os
from pathlib import Path

import pytest

from tests import procs
from tests.admin.helpers import admin, daemon, get, members, put_all, tree, wait_serving
from tests.cluster.client import call, put_key, wait_for
from tests.tls_cluster.cluster import make_pki

pytestmark = pytest.mark.timeout(180)
KEYS = {f"snap/d{i % 5}/k{i}": f"v{i}" for i in range(200)}


def _auth(port: int) -> None:
    body = json.dumps({"user": "root", "password": "rootpw"}).encode()
    reply = call(port, "PUT", "/v2/auth/users/root", body, "application/json")
    assert reply is not None and reply.status == 201, reply
    body = json.dumps({"user": "alice", "password": "alicepw"}).encode()
    reply = call(port, "PUT", "/v2/auth/users/alice", body, "application/json")
    assert reply is not None and reply.status == 201, reply
    reply = call(port, "PUT", "/v2/auth/enable")
    assert reply is not None and reply.status == 200, reply


def _disable_auth(port: int) -> int:
    conn = http.client.HTTPConnection(procs.HOST, port, timeout=5.0)
    try:
        auth = "Basic " + base64.b64encode(b"root:rootpw").decode()
        conn.request("DELETE", "/v2/auth/enable", headers={"Authorization": auth})
        return conn.getresponse().status
    finally:
        conn.close()


def _restore_cluster(
    tmp_path: Path, file: str, size: int
) -> tuple[str, list[tuple[str, int, int]]]:
    nodes = [(f"r{i}", procs.free_port(), procs.free_port()) for i in range(size)]
    initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, _, peer in nodes)
    for name, _, _ in nodes:
        done = admin(
            "snapshot", "restore", file, "--data-dir", str(tmp_path / name), "--name", name,
            "--initial-cluster", initial, "--initial-cluster-token", "restored-token",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return initial, nodes


def test_save_then_restore_into_a_new_three_member_cluster(tmp_path: Path) -> None:
    file = str(tmp_path / "pyetcd.snapshot")
    with procs.running_member("pyetcd") as member:
        put_all(member.client_port, KEYS)
        expected = tree(member.client_port, "snap")
        _auth(member.client_port)
        url = member.client_url
        refused = admin("snapshot", "save", "--endpoints", url, file)
        assert refused.returncode == 1 and "Insufficient credentials" in refused.stderr
        not_root = admin("snapshot", "save", "--endpoints", url, "--user", "alice:alicepw", file)
        assert not_root.returncode == 1 and "Insufficient credentials" in not_root.stderr
        assert not os.path.exists(file)
        dead = f"http://127.0.0.1:{procs.free_port()}"
        saved = admin("snapshot", "save", "--endpoints", f"{dead},{url}", "--user", "root:rootpw",
                      file)  # fmt: skip
        assert saved.returncode == 0, saved.stderr
    _, nodes = _restore_cluster(tmp_path, file, 3)
    again = admin("snapshot", "restore", file, "--data-dir", str(tmp_path / "r0"), "--name", "r0",
                  "--initial-cluster", f"r0=http://127.0.0.1:{nodes[0][2]}")  # fmt: skip
    assert again.returncode == 1 and "not empty" in again.stderr
    with (
        daemon(str(tmp_path / "r0"), "r0", client_port=nodes[0][1], peer_port=nodes[0][2]) as a,
        daemon(str(tmp_path / "r1"), "r1", client_port=nodes[1][1], peer_port=nodes[1][2]) as b,
        daemon(str(tmp_path / "r2"), "r2", client_port=nodes[2][1], peer_port=nodes[2][2]) as c,
    ):
        for d in (a, b, c):  # v2 auth came along with the keys
            wait_serving(d, "snap/d0/k0", "root:rootpw")
            got = get(d.client_port, "/v2/auth/enable")
            assert got is not None and json.loads(got[1]) == {"enabled": True}, got
        assert get(a.client_port, "/v2/auth/users/root", "root:rootpw")[0] == 200
        listed = members(a.client_port)
        assert [m["name"] for m in listed] == ["r0", "r1", "r2"], listed
        off = _disable_auth(a.client_port)
        assert off == 200, off
        assert tree(c.client_port, "snap") == expected
        reply = put_key(b.client_port, "snap/new", "1")
        assert reply is not None and reply.status == 201, reply
        assert tree(c.client_port, "snap")["/snap/new"] == "1"


def test_a_damaged_snapshot_file_is_refused(tmp_path: Path) -> None:
    file = str(tmp_path / "s")
    with procs.running_member("pyetcd") as member:
        put_all(member.client_port, {"a": "1"})
        assert admin("snapshot", "save", "--endpoints", member.client_url, file).returncode == 0
        wrong_method = call(member.client_port, "POST", "/pyetcd/v1/snapshot")
        assert wrong_method is not None and wrong_method.status == 405, wrong_method
    raw = bytearray(Path(file).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    Path(file).write_bytes(bytes(raw))
    done = admin("snapshot", "restore", file, "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1 and "checksum mismatch" in done.stderr, done.stderr
    assert not (tmp_path / "d").exists()
    missing = admin(
        "snapshot", "restore", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d")
    )
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    wrong = admin("snapshot", "restore", file, "--data-dir", str(tmp_path / "d"), "--name", "x")
    assert wrong.returncode == 1 and "no member named 'x'" in wrong.stderr


def test_client_cert_auth_needs_a_verified_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    port = procs.free_port()
    url = f"https://127.0.0.1:{port}"
    data = tmp_path / "data"
    tls = [
        "--cert-file", str(pki.server_cert), "--key-file", str(pki.server_key),
        "--trusted-ca-file", str(pki.ca), "--client-cert-auth",
        "--listen-client-urls", url, "--advertise-client-urls", url,
    ]  # fmt: skip
    with daemon(str(data), "tls", tls, client_port=port) as d:
        file = str(tmp_path / "s")
        ca = ["--cacert", str(pki.ca)]

        def saved() -> bool | None:
            done = admin("snapshot", "save", "--endpoints", url, *ca, "--cert",
                         str(pki.client_cert), "--key", str(pki.client_key), file)  # fmt: skip
            return True if done.returncode == 0 else None

        wait_for(saved, 60.0, "snapshot save over mutual TLS", interval=0.5)
        assert os.path.getsize(file) > 0
        without = admin("snapshot", "save", "--endpoints", url, *ca, str(tmp_path / "t"))
        assert without.returncode == 1, d.log()
        assert not os.path.exists(tmp_path / "t")
