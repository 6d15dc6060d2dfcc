"""`pyetcd-admin migrate` between real processes: etcd 3.4.23 (or pyetcd) to pyetcd."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import time

import aiohttp
import pytest

from pyetcd.admin.keyspace import entries
from pyetcd.admin.migrate import Options, Progress, compare, follow, migrate
from pyetcd.admin.v2client import V2Client, key_url
from tests import procs

pytestmark = pytest.mark.timeout(300)
# The copy test's size; the figure is PYETCD_MIGRATE_KEYS=100000 (tests/admin/README.md).
KEYS = int(os.environ.get("PYETCD_MIGRATE_KEYS", "3000"))
SOURCES = ["etcd", "pyetcd"] if shutil.which("etcd") else ["pyetcd"]


def _needs(impl: str) -> None:
    if impl == "etcd" and shutil.which("etcd") is None:
        pytest.skip("real etcd (Debian etcd-server 3.4.23) is not installed: not run")


async def _put(s: aiohttp.ClientSession, base: str, key: str, method: str = "PUT", **form: str):
    # etcd (Go's ParseForm) reads a form body only on PUT and POST: DELETE takes a query.
    query, body = (form, None) if method == "DELETE" else ({}, form or None)
    async with s.request(method, key_url(base, key), params=query, data=body) as resp:
        body = await resp.json(content_type=None)
        assert resp.status < 300, (key, form, body)
        return body


async def _fill(base: str, count: int) -> None:
    async with aiohttp.ClientSession() as s:
        await _put(s, base, "/plain", value="v")
        await _put(s, base, "/odd key/ünï", value="line1\nline2 & = %")
        await _put(s, base, "/empty", dir="true")
        await _put(s, base, "/tdir", dir="true", ttl="300")
        await _put(s, base, "/tdir/k", value="in a dir with a ttl")
        await _put(s, base, "/ttlkey", value="expires", ttl="200")
        await _put(s, base, "/_hidden/secret", value="h")
        await _put(s, base, "/queue", "POST", value="first")
        await _put(s, base, "/queue", "POST", value="second")
        sem = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with sem:
                await _put(s, base, f"/bulk/d{i // 1000}/k{i}", value=f"value-{i}" * 3)

        await asyncio.gather(*(one(i) for i in range(count)))


@pytest.mark.parametrize("impl", SOURCES)
async def test_copy_keeps_keys_dirs_ttls_and_named_hidden_nodes(impl: str) -> None:
    _needs(impl)
    async with (
        procs.running_member_async(impl, name="src") as src,
        procs.running_member_async("pyetcd", name="dst") as dst,
    ):
        await _fill(src.client_url, KEYS)
        out = io.StringIO()
        opts = Options(hidden=("/_hidden",))
        async with V2Client(src.client_url) as source, V2Client(dst.client_url) as dest:
            started = time.monotonic()
            assert await migrate(source, dest, opts, out=out) == 0, out.getvalue()
            took = time.monotonic() - started
            tree, _ = await dest.tree("/")
            assert tree is not None
            copied = entries(tree)
            hidden, _ = await dest.tree("/_hidden/secret")
            ttls = {}
            for key in ("/ttlkey", "/tdir"):
                (a, _), (b, _) = await asyncio.gather(source.tree(key), dest.tree(key))
                assert a is not None and b is not None
                ttls[key] = (a["ttl"], b["ttl"])
        assert copied["/odd key/ünï"].value == "line1\nline2 & = %"
        assert copied["/empty"].is_dir
        assert sum(1 for k in copied if k.startswith("/bulk/d") and k.count("/") == 3) == KEYS
        assert [e.value for k, e in sorted(copied.items()) if k.startswith("/queue/")] == [
            "first",
            "second",
        ]
        assert hidden is not None and hidden["value"] == "h"
        for left_at_source, left_on_copy in ttls.values():  # remaining TTLs carried over,
            assert -1 <= left_at_source - left_on_copy <= 2, ttls  # to etcd's whole seconds
        text = out.getvalue()
        assert f"copied {KEYS + 7} keys" in text
        assert "etcd index" in text and "destination matches the source" in text
        print(f"{impl} -> pyetcd: {KEYS + 7} keys copied in {took:.1f}s")


async def test_copy_reports_keys_that_differ_and_exits_1() -> None:
    async with (
        procs.running_member_async("pyetcd", name="src") as src,
        procs.running_member_async("pyetcd", name="dst") as dst,
    ):
        async with aiohttp.ClientSession() as s:
            await _put(s, src.client_url, "/a", value="1")
            await _put(s, dst.client_url, "/only-on-destination", value="x")
        out = io.StringIO()
        async with V2Client(src.client_url) as source, V2Client(dst.client_url) as dest:
            assert await migrate(source, dest, Options(), out=out) == 1
        assert "1 keys differ from the source" in out.getvalue()
        assert "/only-on-destination" in out.getvalue()


@pytest.mark.parametrize("impl", SOURCES)
async def test_follow_replays_every_kind_of_change_under_load(impl: str) -> None:
    _needs(impl)
    async with (
        procs.running_member_async(impl, name="src") as src,
        procs.running_member_async("pyetcd", name="dst") as dst,
    ):
        await _fill(src.client_url, max(KEYS, 500))
        out = io.StringIO()
        stop = asyncio.Event()
        opts = Options(prefix="/", follow=True, report_interval=0.5)
        async with V2Client(src.client_url) as source, V2Client(dst.client_url) as dest:
            task = asyncio.create_task(migrate(source, dest, opts, stop, out))
            async with aiohttp.ClientSession() as s:
                base = src.client_url
                for i in range(600):  # a write, a CAS, a delete, a dir, a short TTL...
                    await _put(s, base, f"/live/k{i % 50}", value=f"v{i}")
                    if i % 10 == 0:
                        await _put(s, base, f"/live/k{i % 50}", prevValue=f"v{i}", value="cas")
                    if i % 7 == 0 and i < 500:
                        await _put(s, base, f"/bulk/d0/k{i}", "DELETE")
                    if i % 50 == 0:
                        await _put(s, base, f"/live/dir{i}", dir="true")
                        if i:
                            await _put(s, base, f"/live/dir{i - 50}", "DELETE", dir="true")
                        await _put(s, base, f"/live/short{i}", value="gone soon", ttl="1")
            deadline = time.monotonic() + 600  # the copy first (a minute for 100,000 keys)
            while "copied" not in out.getvalue() and not task.done():
                assert time.monotonic() < deadline, out.getvalue()
                await asyncio.sleep(0.2)
            deadline = time.monotonic() + 60
            while await compare(source, dest, Options()) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(2.5)  # let the short TTLs expire at the source and replay
            stop.set()
            assert await asyncio.wait_for(task, 30) == 0, out.getvalue()[-3000:]
            live, _ = await dest.tree("/live")
        text = out.getvalue()
        assert "following: applied through index" in text, text
        assert live is not None and not any("short" in k for k in entries(live))
        lags = [line for line in text.splitlines() if line.startswith("following:")]
        print(f"{impl} -> pyetcd follow: {len(lags)} lag reports, last: {lags[-1]}")


async def test_follow_resyncs_when_the_source_history_no_longer_reaches_back() -> None:
    async with (
        procs.running_member_async("pyetcd", name="src") as src,
        procs.running_member_async("pyetcd", name="dst") as dst,
    ):
        async with aiohttp.ClientSession() as s:
            await _put(s, dst.client_url, "/stale", value="deleted at the source long ago")
            for i in range(1100):  # more events than the 1000 etcd keeps
                await _put(s, src.client_url, f"/k{i % 10}", value=str(i))
        out = io.StringIO()
        stop = asyncio.Event()
        progress = Progress(applied_index=1)
        opts = Options(follow=True, report_interval=0.5)
        async with V2Client(src.client_url) as source, V2Client(dst.client_url) as dest:
            task = asyncio.create_task(
                follow(source, dest, opts, progress, stop, lambda line: print(line, file=out))
            )
            deadline = time.monotonic() + 20
            while progress.resyncs == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 20)
            assert await compare(source, dest, Options()) == []
        assert progress.resyncs == 1 and "resyncing" in out.getvalue()


def test_command_line_copies_and_fails_in_one_line() -> None:
    with (
        procs.running_member("pyetcd", name="src") as src,
        procs.running_member("pyetcd", name="dst") as dst,
    ):
        subprocess.run(
            ["curl", "-sf", "-XPUT", f"{src.client_url}/v2/keys/x", "-d", "value=1"],
            check=True,
            capture_output=True,
        ) if shutil.which("curl") else asyncio.run(_fill(src.client_url, 1))
        cmd = [sys.executable, "-m", "pyetcd.admin", "migrate"]
        done = subprocess.run(
            [*cmd, "--from", src.client_url, "--to", dst.client_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "destination matches the source" in done.stdout
        bad = subprocess.run(
            [*cmd, "--from", f"http://127.0.0.1:{procs.free_port()}", "--to", dst.client_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert bad.returncode == 1
        assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("pyetcd-admin: http://")
        usage = subprocess.run([*cmd, "--to", dst.client_url], capture_output=True, text=True)
        assert usage.returncode == 2 and "--from" in usage.stderr
