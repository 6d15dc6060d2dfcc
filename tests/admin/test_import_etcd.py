"""`pyetcd-admin import-etcd` on a data dir written by real etcd 3.4.23: 10k keys (the issue's
figure) in directories, some with TTLs, a snapshot (small --snapshot-count) and WAL entries after
it, CAS, deletes, a queue and a v3 key; pyetcd started on the result serves every key with the
same value, indexes and expiration."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import aiohttp
import pytest

from tests import procs
from tests.admin.helpers import get
from tests.cluster.client import get_json, wait_for

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        shutil.which("etcd") is None,
        reason="real etcd (Debian etcd-server 3.4.23) is not installed: not run",
    ),
]
KEYS = int(os.environ.get("PYETCD_IMPORT_KEYS", "10000"))
ADMIN = [sys.executable, "-m", "pyetcd.admin"]


async def _fill(base: str) -> None:
    async with aiohttp.ClientSession() as s:
        sem = asyncio.Semaphore(32)

        async def put(path: str, method: str = "PUT", **form: str) -> None:
            async with sem, s.request(method, base + "/v2/keys" + path, data=form) as resp:
                assert resp.status < 300, (path, await resp.text())

        await put("/tdir", dir="true", ttl="600")
        await put("/tdir/inner", value="in a dir with a ttl")
        await put("/empty", dir="true")
        await asyncio.gather(
            *(
                put(f"/d{i % 13}/sub{i % 3}/k{i}", value=f"value {i} ünï", **(
                    {"ttl": str(400 + i % 50)} if i % 9 == 0 else {}
                ))
                for i in range(KEYS)
            )
        )  # fmt: skip
        await put("/q", "POST", value="first")
        await put("/d0/sub0/k0", value="swapped", prevValue="value 0 ünï")
        await put("/d1/sub1/k1", "DELETE")
        await put("/d2/sub2/k2", value="refreshed", prevExist="true")
        user = json.dumps({"user": "root", "password": "rootpw"})
        async with s.put(base + "/v2/auth/users/root", data=user) as resp:
            assert resp.status == 201, await resp.text()
        async with s.put(base + "/v2/auth/enable") as resp:
            assert resp.status == 200, await resp.text()


def _flatten(node: dict, out: dict[str, tuple]) -> dict[str, tuple]:
    out[node.get("key", "/")] = (
        node.get("value"), node.get("dir", False), node.get("expiration"),
        node.get("modifiedIndex"), node.get("createdIndex"),
    )  # fmt: skip
    for child in node.get("nodes", ()):
        _flatten(child, out)
    return out


def _tree(port: int) -> tuple[dict[str, tuple], dict[str, int]]:
    got = get_json(port, "/v2/keys/?recursive=true&sorted=true", timeout=30.0)
    assert got is not None and got[0] == 200, got
    flat = _flatten(got[1]["node"], {})
    ttls: dict[str, int] = {}

    def collect(node: dict) -> None:
        if "ttl" in node:
            ttls[node["key"]] = node["ttl"]
        for child in node.get("nodes", ()):
            collect(child)

    collect(got[1]["node"])
    return flat, ttls


def test_import_etcd_serves_every_key_with_its_value_and_ttl() -> None:
    etcd = procs.start_member(
        "etcd", extra_args=(*procs.FAST_TIMING, "--enable-v2", "--snapshot-count", "3000")
    )
    work = tempfile.mkdtemp(prefix="import-etcd-")
    pyetcd: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(_fill(etcd.client_url))
        v3 = subprocess.run(
            ["etcdctl", "--endpoints", etcd.client_url, "put", "v3key", "v3value"],
            env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert v3.returncode == 0, v3.stderr
        before, ttls_before = _tree(etcd.client_port)
        read_before = time.monotonic()
        peer, client = procs.free_port(), procs.free_port()
        target = os.path.join(work, "data")
        flags = [
            "import-etcd", "--etcd-data-dir", etcd.data_dir, "--data-dir", target,
            "--name", "imported", "--initial-cluster", f"imported=http://127.0.0.1:{peer}",
            "--initial-cluster-token", "imported-token",
        ]  # fmt: skip
        running = subprocess.run([*ADMIN, *flags], capture_output=True, text=True, check=False)
        assert running.returncode == 1 and "stop etcd first" in running.stderr, running
        assert not os.path.exists(target)
        etcd.proc.send_signal(signal.SIGTERM)
        etcd.proc.wait(timeout=30)
        shown = subprocess.run([*ADMIN, "inspect", "--data-dir", etcd.data_dir],
                               capture_output=True, text=True, check=False)  # fmt: skip
        assert shown.returncode == 1 and "import-etcd" in shown.stderr, shown
        snaps = [n for n in os.listdir(os.path.join(etcd.data_dir, "member", "snap"))
                 if n.endswith(".snap")]  # fmt: skip
        assert len(snaps) >= 2, "etcd wrote too few snapshots for the test to cover member/snap"
        # The newest snapshot damaged: the import falls back to the one before, as etcd does,
        # and replays more of the WAL to the same result.
        newest = os.path.join(etcd.data_dir, "member", "snap", sorted(snaps)[-1])
        with open(newest, "r+b") as fh:
            fh.seek(os.path.getsize(newest) // 2)
            byte = fh.read(1)
            fh.seek(-1, os.SEEK_CUR)
            fh.write(bytes([byte[0] ^ 0x01]))
        done = subprocess.run([*ADMIN, *flags], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert f"warning: {newest}: damaged etcd snapshot skipped" in done.stderr, done.stderr
        assert "v2 write" in done.stdout and "1 v3 or internal" in done.stdout, done.stdout
        assert "snapshot at index 0 " not in done.stdout, done.stdout
        log = open(os.path.join(work, "pyetcd.log"), "wb")  # noqa: SIM115
        pyetcd = subprocess.Popen(
            [
                *procs.command("pyetcd"), "--name", "imported", "--data-dir", target,
                "--listen-client-urls", f"http://127.0.0.1:{client}",
                "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}", *procs.FAST_TIMING, "--enable-v2",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

        def serving() -> bool | None:
            got = get_json(client, "/v2/keys/tdir", timeout=1.0)
            return True if got is not None and got[0] == 200 else None

        wait_for(serving, 60.0, "pyetcd serving the imported data")
        after, ttls_after = _tree(client)
        elapsed = time.monotonic() - read_before
        assert after == before
        assert ttls_after.keys() == ttls_before.keys()
        assert len(ttls_before) > KEYS // 10
        # The expirations are equal (above): the TTLs left are etcd's, less the time between.
        assert all(abs(ttls_after[k] - (ttls_before[k] - elapsed)) <= 2 for k in ttls_before)
        # v2 auth came along: enabled, root with its password (the guest role etcd made
        # when auth was enabled lets the reads above through, as on etcd).
        enabled = get_json(client, "/v2/auth/enable")
        assert enabled == (200, {"enabled": True}), enabled
        root = get(client, "/v2/auth/users/root", "root:rootpw")
        assert root is not None and root[0] == 200, root
        assert get(client, "/v2/auth/users/root", "root:wrong")[0] == 401
        members = get_json(client, "/v2/members")
        assert members is not None
        assert [m["name"] for m in members[1]["members"]] == ["imported"]
    finally:
        if pyetcd is not None:
            pyetcd.kill()
            pyetcd.wait()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_import_etcd_refuses_what_is_not_an_etcd_data_dir(tmp_path) -> None:
    (tmp_path / "member" / "wal").mkdir(parents=True)
    bad = tmp_path / "member" / "wal" / "0000000000000000-0000000000000000.wal"
    bad.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00garbage")
    done = subprocess.run(
        [*ADMIN, "import-etcd", "--etcd-data-dir", str(tmp_path), "--data-dir",
         str(tmp_path / "out"), "--name", "a", "--initial-cluster", "a=http://127.0.0.1:1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("pyetcd-admin: ") and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()
