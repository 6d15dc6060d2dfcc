"""`python -m pyetcd` as a real process on 127.0.0.1: readiness, requests, flags, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pyetcd.ids import cluster_id, format_id, member_id
from tests.tls.helpers import SERVICE, Pki

READY_PHRASES = ("enabled capabilities for version", "published")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Member:
    """One pyetcd process and everything it has written to stderr so far."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, peer_url: str) -> None:
        self.proc = proc
        self.url = url
        self.peer_url = peer_url
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    async def wait_ready(self) -> None:
        async def ready() -> None:
            while not all(any(p in line for line in self.lines) for p in READY_PHRASES):
                if self.proc.returncode is not None:
                    raise AssertionError("pyetcd exited:\n" + "\n".join(self.lines))
                await asyncio.sleep(0.05)

        await asyncio.wait_for(ready(), START_TIMEOUT)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
        try:
            code = await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            await self._reader
        return code


async def spawn_member(
    tmp_path: Path,
    name: str,
    url: str,
    peer_url: str,
    initial_cluster: str,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Member:
    """Started, not waited for."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pyetcd",
        "--name", name, "--data-dir", str(tmp_path / f"{name}.etcd"),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", initial_cluster, "--initial-cluster-token", "tok",
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}, **(env or {})},
    )  # fmt: skip
    return Member(proc, url, peer_url)


async def start_member(
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
    scheme: str = "http",
) -> Member:
    client, peer = ports or (free_port(), free_port())
    url = f"{scheme}://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    member = await spawn_member(tmp_path, "t1", url, peer_url, f"t1={peer_url}", *extra, env=env)
    try:
        await member.wait_ready()
    except BaseException:
        await member.stop(signal.SIGKILL)
        raise
    return member


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[Member]:
    started = await start_member(tmp_path, "--enable-v2")
    yield started
    await started.stop(signal.SIGKILL)


async def test_serves_v2_and_stops_cleanly_on_sigterm(member: Member, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{member.url}/v2/keys/foo", data={"value": "bar"}) as resp:
            body = await resp.text()
            assert resp.status == 201
            assert body.startswith('{"action":"set","node":{"key":"/foo","value":"bar","')
            assert resp.headers["X-Etcd-Index"] == "4"
            mid = member_id([member.peer_url], "tok")
            assert resp.headers["X-Etcd-Cluster-Id"] == format_id(cluster_id([mid]))
        async with http.get(f"{member.url}/v2/members") as resp:
            [me] = (await resp.json())["members"]
            assert (me["name"], me["clientURLs"]) == ("t1", [member.url])
        async with http.get(f"{member.url}/v2/stats/self") as resp:
            stats = await resp.json(content_type=None)
            assert (stats["name"], stats["state"]) == ("t1", "StateLeader")
        async with http.get(f"{member.url}/version") as resp:
            assert await resp.json(content_type=None) == {
                "etcdserver": "3.4.23",
                "etcdcluster": "3.4.0",
            }
    data_dir = tmp_path / "t1.etcd"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert [p.name for p in data_dir.iterdir()] == ["member"]
    assert sorted(p.name for p in (data_dir / "member").iterdir()) == ["snap", "wal"]
    assert await member.stop() == 0
    assert not any("Traceback" in line for line in member.lines)


async def test_a_restarted_member_keeps_its_data(tmp_path: Path) -> None:
    """The WAL makes the lone member durable; it publishes again after the restart (+1)."""
    first = await start_member(tmp_path, "--enable-v2")
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{first.url}/v2/keys/foo", data={"value": "bar"}) as resp:
            assert resp.headers["X-Etcd-Index"] == "4"
        assert await first.stop() == 0
        ports = (int(first.url.rsplit(":", 1)[1]), int(first.peer_url.rsplit(":", 1)[1]))
        again = await start_member(tmp_path, "--enable-v2", ports=ports)
        try:
            assert any("restarting member" in line for line in again.lines)
            async with http.get(f"{again.url}/v2/keys/foo") as resp:
                assert (await resp.json())["node"]["value"] == "bar"
            async with http.put(f"{again.url}/v2/keys/foo", data={"value": "baz"}) as resp:
                assert resp.headers["X-Etcd-Index"] == "6"
        finally:
            assert await again.stop() == 0


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to a member's client port, once the member has bound it."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)


async def test_client_requests_wait_until_the_member_has_published(tmp_path: Path) -> None:
    """etcd's ReadyNotify: the client port accepts at once, but a request is answered only once
    the member has published itself, which needs a quorum (here the second of two members)."""
    ports = {name: (free_port(), free_port()) for name in ("p1", "p2")}
    initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, (_, peer) in ports.items())

    async def spawn(name: str) -> Member:
        client, peer = ports[name]
        url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return await spawn_member(tmp_path, name, url, peer_url, initial, "--enable-v2")

    members = [await spawn("p1")]
    try:
        reader, writer = await _connect(ports["p1"][0])
        writer.write(b"GET /v2/keys HTTP/1.1\r\nHost: p1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 1.0)
        members.append(await spawn("p2"))
        reply = await asyncio.wait_for(reader.read(), START_TIMEOUT)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
        assert b'"action":"get"' in reply
        await members[0].wait_ready()
    finally:
        codes = [await member.stop() for member in members]
    assert codes == [0, 0]
    ready = [line for line in members[0].lines if "ready to serve client requests" in line]
    assert len(ready) == 1, members[0].lines
    order = [line.split(" | ", 1)[1] for line in members[0].lines if " | " in line]
    published = next(i for i, line in enumerate(order) if "published {Name:p1" in line)
    assert published < order.index("embed: ready to serve client requests")


async def test_sigterm_ends_open_watches(member: Member) -> None:
    async with aiohttp.ClientSession() as http:
        watch = asyncio.create_task(http.get(f"{member.url}/v2/keys/w?wait=true"))
        await asyncio.sleep(0.3)
        assert await member.stop() == 0
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


async def test_sigint_also_exits_zero(member: Member) -> None:
    assert await member.stop(signal.SIGINT) == 0


async def test_without_enable_v2_the_v2_routes_are_absent(tmp_path: Path) -> None:
    member = await start_member(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            for method, path in (("GET", "/v2/keys/"), ("PUT", "/v2/keys/a"), ("GET", "/v2")):
                async with http.request(method, f"{member.url}{path}") as resp:
                    # what etcd 3.4.23 without --enable-v2 answered
                    assert resp.status == 404
                    assert await resp.read() == b"404 page not found\n"
                    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
                    assert resp.headers["Access-Control-Allow-Origin"] == "*"
            async with http.get(f"{member.url}/version") as resp:
                assert resp.status == 200
    finally:
        assert await member.stop() == 0


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pyetcd", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}, **(env or {})},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("args", "env", "code", "fragment"),
    [
        (["--nonsense"], {}, 2, "flag provided but not defined: -nonsense"),
        (["--listen-client-urls", "http://localhost:1"], {}, 1,
         "--advertise-client-urls is required when --listen-client-urls is set explicitly"),
        (["--listen-client-urls", "http://example.com:1", "--advertise-client-urls",
          "http://example.com:1"], {}, 1, "expected IP in URL for binding"),
        (["--name", "y"], {"ETCD_NAME": "x"}, 1, 'conflicting environment variable "ETCD_NAME"'),
    ],
)  # fmt: skip
async def test_bad_flags_are_one_line_and_nonzero(
    args: list[str], env: dict[str, str], code: int, fragment: str
) -> None:
    rc, out, err = await run_cli(*args, env=env)
    assert rc == code
    assert out == ""
    assert err.count("\n") == 1 and fragment in err


async def test_busy_port_is_one_line_and_exit_one(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        url = f"http://127.0.0.1:{busy.getsockname()[1]}"
        rc, _, err = await run_cli(
            "--data-dir", str(tmp_path / "d"), "--listen-client-urls", url,
            "--advertise-client-urls", url,
        )  # fmt: skip
    assert rc == 1
    last = err.rstrip("\n").splitlines()[-1]
    port = url.rsplit(":", 1)[1]
    busy_line = f" C | etcdmain: listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert last.endswith(busy_line)
    assert "Traceback" not in err


async def test_version_and_help() -> None:
    rc, out, err = await run_cli("--version")
    assert (rc, err) == (0, "")
    assert out.startswith("etcd Version: 3.4.23\n") and "pyetcd" in out
    rc, out, err = await run_cli("-h")
    assert (rc, err) == (0, "")
    assert "--listen-client-urls 'http://localhost:2379'" in out and "(accepted)" not in out


async def test_tells_systemd_when_ready(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify"))
        notify.setblocking(False)
        member = await start_member(tmp_path, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            assert notify.recv(64) == b"READY=1"
        finally:
            assert await member.stop() == 0


async def test_https_client_urls_with_client_certificates(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    ca = pki.ca("etcdCA")
    server = pki.leaf(ca, SERVICE, [SERVICE], ["127.0.0.1"])
    client = pki.leaf(ca, "clientName")
    member = await start_member(
        tmp_path, "--enable-v2", f"--cert-file={server.cert}", f"--key-file={server.key}",
        f"--trusted-ca-file={ca.cert}", "--client-cert-auth", scheme="https",
    )  # fmt: skip
    try:
        assert any("serving client requests on 127.0.0.1" in line for line in member.lines)
        trusting = ssl.create_default_context(cafile=str(ca.cert))
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"{member.url}/version", ssl=trusting) as resp:
                    await resp.read()
            trusting.load_cert_chain(str(client.cert), str(client.key))
            async with http.put(
                f"{member.url}/v2/keys/s", data={"value": "1"}, ssl=trusting
            ) as resp:
                assert resp.status == 201
    finally:
        assert await member.stop() == 0


async def test_https_without_a_key_pair_is_one_line(tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    rc, _, err = await run_cli(
        "--data-dir", str(tmp_path / "d"), "--listen-client-urls", url,
        "--advertise-client-urls", url,
    )  # fmt: skip
    assert rc == 1
    assert "--cert-file and --key-file are not both given" in err.rstrip("\n").splitlines()[-1]
