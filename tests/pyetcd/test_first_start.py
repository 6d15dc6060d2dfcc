"""A first start of `python -m pyetcd` that fails leaves no data dir behind, so the corrected
retry bootstraps (real processes on 127.0.0.1)."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.pyetcd.test_process import free_port, run_cli, start_member


def _flags(data_dir: Path, client: int, peer: int, *extra: str) -> list[str]:
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    return [
        "--name", "t1", "--data-dir", str(data_dir),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"t1={peer_url}", "--initial-cluster-token", "tok",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("busy", ["client", "peer"])
async def test_a_busy_port_leaves_no_data_dir_and_the_retry_bootstraps(
    tmp_path: Path, busy: str
) -> None:
    data_dir = tmp_path / "t1.etcd"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        client, peer = (port, free_port()) if busy == "client" else (free_port(), port)
        rc, _, err = await run_cli(*_flags(data_dir, client, peer))
    assert rc == 1 and "Traceback" not in err
    last = err.rstrip("\n").splitlines()[-1]  # etcd's words, for either listener
    assert last.endswith(f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert not data_dir.exists()
    member = await start_member(tmp_path, "--enable-v2", ports=(client, peer))
    try:
        assert not any("restarting member" in line for line in member.lines)
        assert await member.stop() == 0
    finally:
        await member.stop(signal.SIGKILL)


@pytest.mark.parametrize("existed", [False, True])
async def test_bad_tls_material_leaves_the_data_dir_as_it_was(
    tmp_path: Path, existed: bool
) -> None:
    data_dir = tmp_path / "disk" / "t1.etcd"
    if existed:
        data_dir.mkdir(mode=0o700, parents=True)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    client, peer = free_port(), free_port()
    flags = _flags(data_dir, client, peer, "--cert-file", str(garbage), "--key-file", str(garbage))
    flags[flags.index("--listen-client-urls") + 1] = f"https://127.0.0.1:{client}"
    rc, _, err = await run_cli(*flags)
    assert rc == 1 and "Traceback" not in err
    assert (list(data_dir.iterdir()) == []) if existed else not data_dir.parent.exists()
