"""`--discovery URL`: etcd's v2 discovery protocol, so pyetcd members bootstrap from the same
discovery service (etcd or pyetcd) as etcd's and end up with etcd's member and cluster ids.

The service holds `<token>/_config/size` and one key per registering member, named by its
member id (hex) with `name=peerURL,...` as value. A member registers itself (create, so a
second registration of the same id fails), then waits until `size` members registered;
the first `size` by creation index form the cluster; a member later than those finds the
cluster full. etcd computes ids with the discovery URL as the cluster token, and so do we.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from pyetcd.bootstrap import BootstrapError
from pyetcd.config import Config
from pyetcd.ids import format_id, member_id
from pyetcd.proxy.peers import proxy_dir
from pyetcd.urls import URLError, parse_initial_cluster
from raft.aio.recovery import member_dirs, member_initialized

log = logging.getLogger("discovery")

REQUEST_TIMEOUT = 5.0  # etcd's client.DefaultRequestTimeout
MAX_BACKOFF_EXPONENT = 8  # etcd: exponential back-off up to 2**8 s, then constant
KEY_NOT_FOUND = 100
NODE_EXIST = 105


class DiscoveryError(Exception):
    """etcd's v2discovery errors, with etcd's texts."""


INVALID_URL = "discovery: invalid URL"
BAD_SIZE_KEY = "discovery: size key is bad"
SIZE_NOT_FOUND = "discovery: size key not found"
DUPLICATE_ID = "discovery: found duplicate id"
DUPLICATE_NAME = "discovery: found duplicate name"
FULL_CLUSTER = "discovery: cluster is full"
BAD_ENDPOINT = "discovery: bad discovery endpoint"


@dataclass(frozen=True, slots=True)
class Registered:
    """One member's key under the token."""

    name: str  # the key's last element: the member id in hex
    value: str
    created: int


def registered(token_node: Mapping[str, Any]) -> list[Registered]:
    """The token directory's members, by creation index; `_config` is not one."""
    out = [
        Registered(posixpath.basename(n["key"]), n.get("value", ""), int(n["createdIndex"]))
        for n in token_node.get("nodes") or ()
        if posixpath.basename(n.get("key", "")) != "_config"
    ]
    return sorted(out, key=lambda r: r.created)


def check(
    members: Sequence[Registered], size: int, self_name: str
) -> tuple[list[Registered], bool]:
    """etcd's checkCluster: the members that count, and whether the cluster is full without
    this member (it is not among the first `size`)."""
    for i, member in enumerate(members):
        if member.name == self_name:
            break
        if i >= size - 1:
            return list(members[:size]), True
    return list(members), False


def cluster_string(members: Sequence[Registered], size: int) -> str:
    """The `--initial-cluster` the registrations make; raises for a bad or duplicate name."""
    text = ",".join(m.value for m in members)
    try:
        parsed = parse_initial_cluster(text)
    except URLError:
        raise DiscoveryError(INVALID_URL) from None
    if len(parsed) != size:
        raise DiscoveryError(DUPLICATE_NAME)
    return text


def split_url(durl: str) -> tuple[str, str]:
    """(endpoint, token path): etcd keeps the URL's path, `/v2/keys/...` included, as the
    key prefix it reads and writes."""
    parts = urlsplit(durl)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DiscoveryError(INVALID_URL)
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), parts.path


class _Service:
    def __init__(self, durl: str, proxy: str, session: aiohttp.ClientSession) -> None:
        self.endpoint, self.token = split_url(durl)
        self.proxy = proxy or None
        self.session = session
        self.retries = 0

    def _url(self, key: str) -> str:
        return self.endpoint + quote(key, safe="/")

    async def _call(
        self, method: str, key: str, *, params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None, timeout: float | None = REQUEST_TIMEOUT,
    ) -> tuple[int, dict[str, Any], int]:  # fmt: skip
        """(status, JSON answer, X-Etcd-Index); transport errors raise OSError-like ones."""
        async with self.session.request(
            method, self._url(key), params=params, data=data, proxy=self.proxy,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:  # fmt: skip
            body = await resp.read()
            index = int(resp.headers.get("X-Etcd-Index", "0") or 0)
            try:
                answer = json.loads(body)
            except ValueError:
                raise DiscoveryError(BAD_ENDPOINT) from None
            return resp.status, answer, index

    async def backoff(self, step: str) -> None:
        self.retries += 1
        wait = 2 ** min(self.retries, MAX_BACKOFF_EXPONENT)
        log.info("%s: error connecting to %s, retrying in %ss", step, self.endpoint, wait)
        await asyncio.sleep(wait)

    async def check(self, self_name: str) -> tuple[list[Registered], int, int, bool]:
        """Members, size, the token directory's index, and whether the cluster is full."""
        while True:
            try:
                status, answer, _ = await self._call("GET", f"{self.token}/_config/size")
                if status == 404 and answer.get("errorCode") == KEY_NOT_FOUND:
                    raise DiscoveryError(SIZE_NOT_FOUND)
                try:
                    size = int(answer["node"]["value"])
                except (KeyError, TypeError, ValueError):
                    raise DiscoveryError(BAD_SIZE_KEY) from None
                status, answer, index = await self._call("GET", self.token)
                break
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.error("%s", exc)
                await self.backoff("cluster status check")
        members, full = check(registered(answer.get("node") or {}), size, self_name)
        return members, size, index, full

    async def register(self, self_name: str, value: str) -> None:
        key = f"{self.token}/{self_name}"
        status, answer, _ = await self._call(
            "PUT", key, params={"prevExist": "false"}, data={"value": value}
        )
        if answer.get("errorCode") == NODE_EXIST:
            raise DiscoveryError(DUPLICATE_ID)
        if status >= 300:
            raise DiscoveryError(f"discovery: {answer.get('message', status)}")

    async def wait(
        self, members: list[Registered], size: int, index: int, self_name: str
    ) -> list[Registered]:
        everyone = list(members[:size])
        for member in everyone:
            if member.name == self_name:
                log.info("found self %s in the cluster", self_name)
            else:
                log.info("found peer %s in the cluster", member.name)
        while len(everyone) < size:
            log.info("found %d peer(s), waiting for %d more", len(everyone), size - len(everyone))
            params = {"wait": "true", "recursive": "true", "waitIndex": str(index + 1)}
            try:
                _, answer, _ = await self._call("GET", self.token, params=params, timeout=None)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.error("%s", exc)
                await self.backoff("waiting for other nodes")
                members, size, index, _ = await self.check(self_name)
                everyone = list(members[:size])
                continue
            node = answer.get("node") or {}
            index = int(node.get("modifiedIndex", index + 1))
            if answer.get("action") not in ("create", "set") or node.get("dir"):
                continue
            name = posixpath.basename(node.get("key", ""))
            if name == "_config" or any(m.name == name for m in everyone):
                continue
            log.info("found peer %s in the cluster", name)
            everyone.append(Registered(name, node.get("value", ""), int(node["createdIndex"])))
        log.info("found %d needed peer(s)", len(everyone))
        return everyone


async def join_cluster(durl: str, proxy: str, member_hex: str, self_entry: str) -> str:
    """Register and wait; the `--initial-cluster` to bootstrap with. Raises DiscoveryError
    (FULL_CLUSTER when this member came too late)."""
    async with aiohttp.ClientSession() as session:
        service = _Service(durl, proxy, session)
        _, _, _, full = await service.check(member_hex)
        if full:
            raise DiscoveryError(FULL_CLUSTER)
        await service.register(member_hex, self_entry)
        members, size, index, full = await service.check(member_hex)
        if full:
            raise DiscoveryError(FULL_CLUSTER)
        return cluster_string(await service.wait(members, size, index, member_hex), size)


async def get_cluster(durl: str, proxy: str) -> str:
    """The cluster a full discovery token describes (for `--discovery-fallback proxy`)."""
    async with aiohttp.ClientSession() as session:
        service = _Service(durl, proxy, session)
        members, size, index, full = await service.check("")
        if not full and len(members) < size:
            members = await service.wait(members, size, index, "")
        return cluster_string(members[:size], size)


def _cluster(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted(parse_initial_cluster(text).items()))


async def bootstrap_config(config: Config) -> Config:
    """The Config to start with: unchanged without `--discovery` or once the member (or proxy)
    has data; else the cluster the discovery service assembled, with the discovery URL as the
    cluster token as etcd uses it, or a proxy of that cluster when it is full and
    `--discovery-fallback proxy`. Raises BootstrapError in etcd's words."""
    durl = config.discovery
    if not durl or os.path.isdir(proxy_dir(config.data_dir)):
        return config
    if member_initialized(config.data_dir, config.wal_dir):
        log.warning(
            "discovery token ignored since a cluster has already been initialized. Valid log "
            "found at %r", member_dirs(config.data_dir, config.wal_dir)[0],
        )  # fmt: skip
        return config
    try:
        if config.proxy != "off":
            return dataclasses.replace(config, initial_cluster=_cluster(await get_cluster(
                durl, config.discovery_proxy)))  # fmt: skip
        advertised = config.initial_advertise_peer_urls
        own = format_id(member_id(advertised, durl))
        entry = ",".join(f"{config.name}={url}" for url in advertised)
        try:
            text = await join_cluster(durl, config.discovery_proxy, own, entry)
        except DiscoveryError as exc:
            if str(exc) != FULL_CLUSTER or config.discovery_fallback != "proxy":
                raise
            log.info("discovery cluster full, falling back to proxy")
            text = await get_cluster(durl, config.discovery_proxy)
            return dataclasses.replace(config, proxy="on", initial_cluster=_cluster(text))
    except DiscoveryError as exc:
        hint = {
            DUPLICATE_ID: f"member {config.name!r} has previously registered with discovery "
            f"service token ({durl}), but no valid cluster configuration is in the data dir "
            f"({config.data_dir}): check the data dir, or use a new discovery token",
            DUPLICATE_NAME: f"a member with a duplicated name has registered with discovery "
            f"service token ({durl}): do not reuse the token, generate a new one",
        }.get(str(exc), f"discovery token {durl} was used, but failed to bootstrap the "
              "cluster: generate a new discovery token and try again")  # fmt: skip
        raise BootstrapError(f"{exc} ({hint})") from None
    return dataclasses.replace(
        config, initial_cluster=_cluster(text), initial_cluster_token=durl,
        initial_cluster_state="new",
    )  # fmt: skip
