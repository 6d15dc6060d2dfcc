"""Where a v2 proxy learns the cluster: the peer URLs it was given (or kept in
`<data-dir>/proxy/cluster`, etcd's file), asked for the member list. pyetcd members answer
the peer protocol's INFO request; etcd members answer `GET <peer>/members` over HTTP."""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from pyetcd.membership import decode_info
from raft.aio.transport import PeerProtocolError, PeerRefused, PeerURLError, fetch_info

log = logging.getLogger("etcdmain")

CLUSTER_FILE = "cluster"
FETCH_TIMEOUT = 10.0  # etcd's GetClusterFromRemotePeers


class ClusterFileError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Cluster:
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


def proxy_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "proxy")


def read_cluster_file(directory: str) -> tuple[str, ...] | None:
    """The peer URLs a previous run saved, or None when there is no file yet."""
    path = os.path.join(directory, CLUSTER_FILE)
    try:
        with open(path, "rb") as fh:
            urls = json.loads(fh.read())["PeerURLs"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterFileError(f"cannot read the proxy's cluster file {path}: {exc}") from None
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ClusterFileError(f"{path}: PeerURLs is not a list of URLs")
    return tuple(urls)


def write_cluster_file(directory: str, peer_urls: Sequence[str]) -> None:
    """Atomically, as etcd: `cluster.bak` written and synced, then renamed over `cluster`."""
    path = os.path.join(directory, CLUSTER_FILE)
    data = json.dumps({"PeerURLs": list(peer_urls)}, separators=(",", ":")).encode()
    fd = os.open(path + ".bak", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(path + ".bak", path)


def _members_json(body: bytes) -> Cluster:
    return _cluster_of(json.loads(body))


def _cluster_of(members: object) -> Cluster:
    if not isinstance(members, list):
        raise ValueError("not a member list")
    peers = tuple(u for m in members for u in m.get("peerURLs") or ())
    clients = tuple(u for m in members for u in m.get("clientURLs") or ())
    return _usable(Cluster(peers, clients))


def _usable(cluster: Cluster) -> Cluster:
    """A list naming no peer URLs would leave the proxy nobody to ask at the next refresh:
    it counts as no answer."""
    if not cluster.peer_urls:
        raise ValueError("the member list names no peer URLs")
    return cluster


async def _from_etcd(url: str, tls: ssl.SSLContext | None) -> Cluster:
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    connector = aiohttp.TCPConnector(ssl=tls if tls is not None else True)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        session.get(url.rstrip("/") + "/members") as resp,
    ):
        if not resp.headers.get("X-Etcd-Cluster-Id"):
            raise ValueError("no X-Etcd-Cluster-ID in the answer")
        return _members_json(await resp.read())


async def _from_pyetcd(url: str, tls: ssl.SSLContext | None) -> Cluster:
    info = decode_info(await fetch_info(url, None, lambda: tls, timeout=FETCH_TIMEOUT))
    return _usable(
        Cluster(
            tuple(u for m in info.members for u in m.peer_urls),
            tuple(u for m in info.members for u in m.client_urls),
        )
    )


async def fetch_client_cluster(
    session: aiohttp.ClientSession, client_urls: Sequence[str]
) -> Cluster | None:
    """The member list from the first client URL whose `GET /v2/members` answers (pyetcd's
    --pyetcd-proxy-cluster-client-urls); None (logged) when none does."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    for url in client_urls:
        try:
            async with session.get(url.rstrip("/") + "/v2/members", timeout=timeout) as resp:
                if resp.status != 200:
                    raise ValueError(f"status {resp.status}")
                return _cluster_of(json.loads(await resp.read())["members"])
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.warning("proxy: could not get the member list from %s: %s", url, exc)
    log.warning("proxy: could not retrieve cluster information from the given client URLs")
    return None


async def fetch_cluster(peer_urls: Sequence[str], tls: ssl.SSLContext | None) -> Cluster | None:
    """The member list from the first peer that answers; None (logged) when none does."""
    for url in peer_urls:
        try:
            return await _from_pyetcd(url, tls)
        except (PeerProtocolError, EOFError):
            pass  # not a pyetcd peer: try etcd's HTTP peer handler
        except (PeerRefused, PeerURLError, ValueError, OSError, TimeoutError) as exc:
            log.warning("proxy: could not get cluster response from %s: %s", url, exc)
            continue
        try:
            return await _from_etcd(url, tls)
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            log.warning("proxy: could not get cluster response from %s: %s", url, exc)
    log.warning("proxy: could not retrieve cluster information from the given URLs")
    return None
