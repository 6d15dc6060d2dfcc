"""`pyetcd-admin snapshot save` and `snapshot restore`: a consistent snapshot of a running
member over its client port (`GET /pyetcd/v1/snapshot`, a pyetcd extension), and new data dirs
from it for a cluster of any size, as `etcdctl snapshot save` and `snapshot restore` do."""

from __future__ import annotations

import contextlib
import os

import aiohttp

from pyetcd.admin.backup import Written
from pyetcd.admin.newcluster import NewCluster, write_new_member
from pyetcd.admin.snapfile import HotSnapshot, SnapshotFileError, decode_snapshot
from pyetcd.admin.v2client import AdminError, TLSFiles

SNAPSHOT_PATH = "/pyetcd/v1/snapshot"
TIMEOUT = 60.0


def _auth(user: str) -> aiohttp.BasicAuth | None:
    """etcdctl's `--username name[:password]`."""
    if not user:
        return None
    name, _, password = user.partition(":")
    return aiohttp.BasicAuth(name, password)


async def _fetch(endpoint: str, tls: TLSFiles, user: str) -> bytes:
    if not endpoint.startswith(("http://", "https://")):
        raise AdminError(f"{endpoint}: an endpoint is http:// or https:// followed by host:port")
    ctx = tls.context()
    connector = aiohttp.TCPConnector(ssl=ctx if ctx else True)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    url = endpoint.rstrip("/") + SNAPSHOT_PATH
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url, auth=_auth(user)) as resp,
        ):
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise AdminError(f"{endpoint}: {exc or type(exc).__name__}") from None
    if status == 404:
        raise AdminError(f"{endpoint}: no snapshot endpoint (is it a pyetcd member?)")
    if status != 200:
        text = body.decode("utf-8", "replace").strip()
        raise AdminError(f"{endpoint}: HTTP {status}: {text}")
    return body


async def save(endpoints: list[str], path: str, tls: TLSFiles, user: str) -> HotSnapshot:
    """The first endpoint that answers; the file is checked, synced and renamed into place."""
    errors = []
    for endpoint in endpoints:
        try:
            raw = await _fetch(endpoint, tls, user)
        except AdminError as exc:
            errors.append(str(exc))
            continue
        try:
            snap = decode_snapshot(raw)
        except SnapshotFileError as exc:
            raise AdminError(f"{endpoint}: the snapshot arrived damaged: {exc}") from None
        _write_file(path, raw)
        return snap
    raise AdminError("; ".join(errors))


def _write_file(path: str, raw: bytes) -> None:
    tmp = path + ".part"
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise AdminError(f"cannot write {path}: {exc}") from None


def read_file(path: str) -> HotSnapshot:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc}") from None
    try:
        return decode_snapshot(raw)
    except SnapshotFileError as exc:
        raise AdminError(f"{path}: {exc}") from None


def restore(path: str, data_dir: str, wal_dir: str, cluster: NewCluster) -> Written:
    snap = read_file(path)
    return write_new_member(data_dir, wal_dir, cluster, snap.store_data, snap.index)
