"""`--discovery-srv DOMAIN` (etcd 3.4's DNS bootstrap) and peer URLs compared by the addresses
their names resolve to (etcd's netutil.URLStringsEqual), both done at start.

The initial cluster comes from the SRV records `_etcd-server-ssl[-<srv-name>]._tcp.<domain>`
(https peers). etcd 3.4.23 also queries `_etcd-server[-<srv-name>]._tcp.<domain>` and logs what
it finds, but its GetDNSClusterNames keeps those http entries only when that query failed, that
is never: an http-only SRV setup fails to bootstrap in etcd 3.4.23, and so it does here. A
target whose address is one of this member's advertised peer URLs is this member (named
--name); the others are named 0, 1, ... in record order. SRV lookups go through dnspython
(which reads /etc/resolv.conf, as Go's resolver does); names through the system resolver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

from pyetcd.bootstrap import BootstrapError
from pyetcd.config import Config
from pyetcd.proxy.peers import proxy_dir
from pyetcd.urls import URLError, host_port, names_a_host, parse_initial_cluster
from raft.aio.recovery import member_initialized

log = logging.getLogger("embed")

MATCH_TIMEOUT = 30.0  # etcd's advertiseMatchesCluster context
RETRY_INTERVAL = 1.0  # netutil's retryInterval
INITIAL_CLUSTER_ERROR = "error setting up initial cluster: "  # etcdmain's prefix

Resolver = Callable[[str], Awaitable[str]]
_NO_SUCH_HOST = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


class ResolveError(Exception):
    """A name that does not resolve; `str()` is the reason."""


@dataclass(frozen=True, slots=True)
class SrvRecord:
    target: str  # without the trailing dot
    port: int


def srv_service(service: str, srv_name: str, scheme: str) -> str:
    """etcd's GetSRVService: `-ssl` for https, then `-<srv-name>` when one is given."""
    if scheme == "https":
        service += "-ssl"
    return f"{service}-{srv_name}" if srv_name else service


def _join(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _on_server() -> str:
    """Go's DNS errors name the server asked: the first of /etc/resolv.conf."""
    try:
        resolver = dns.asyncresolver.get_default_resolver()
    except dns.exception.DNSException:
        return ""
    servers = resolver.nameservers
    return f" on {_join(str(servers[0]), resolver.port)}" if servers else ""


async def resolve_tcp(hostport: str) -> str:
    """Go's ResolveTCPAddr: the first IPv4 address of the name (else the first one), as ip:port."""
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, int(port or 0), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        reason = "no such host" if exc.errno in _NO_SUCH_HOST else exc.strerror
        raise ResolveError(f"lookup {host}{_on_server()}: {reason}") from None
    except UnicodeError as exc:
        raise ResolveError(f"lookup {host}: {exc}") from None
    ordered = sorted(infos, key=lambda info: info[0] != socket.AF_INET)
    return _join(str(ordered[0][4][0]), port)


async def lookup_srv(service: str, domain: str) -> list[SrvRecord]:
    """Go's LookupSRV order (priority, then weight), deterministic within a weight."""
    name = f"_{service}._tcp.{domain}"
    try:
        answer = await dns.asyncresolver.resolve(name, "SRV", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise ResolveError(f"lookup {name}{_on_server()}: no such host") from None
    except dns.exception.DNSException as exc:
        raise ResolveError(f"lookup {name}{_on_server()}: {exc}") from None
    records = sorted(answer, key=lambda r: (r.priority, -r.weight, str(r.target)))
    return [SrvRecord(str(r.target).rstrip("."), r.port) for r in records]


async def cluster_from_srv(
    scheme: str,
    service: str,
    records: Sequence[SrvRecord],
    name: str,
    own: dict[str, str],
    resolve: Resolver,
) -> list[str]:
    """etcd's srv.GetCluster over looked-up records; `own` maps this member's resolved
    advertised peer addresses to their URLs. Raises ResolveError with etcd's reasons."""
    entries: list[str] = []
    error: str | None = None
    temp = 0
    for record in records:
        hostport = _join(record.target, record.port)
        try:
            address = await resolve(hostport)
        except ResolveError as exc:
            error = str(exc)
            continue
        mine = own.get(address)
        if mine is not None:
            member = name
        else:
            member, temp = str(temp), temp + 1
        if mine is not None and not mine.startswith(f"{scheme}://"):
            error = (f"bootstrap at {scheme}://{hostport} from DNS for {service} has scheme "
                     f"mismatch with expected peer {mine}")  # fmt: skip
            continue
        entries.append(f"{member}={scheme}://{hostport}")
    if not entries:
        raise ResolveError(error or f"no SRV targets for _{service}")
    return entries


async def dns_cluster(config: Config, resolve: Resolver = resolve_tcp) -> str:
    """etcd's GetDNSClusterNames, as `name=url,...`; raises BootstrapError in etcd's words."""
    own: dict[str, str] = {}
    try:
        for url in config.initial_advertise_peer_urls:
            own[await resolve(_join(*host_port(url)))] = url
    except ResolveError as exc:
        raise BootstrapError(f"{INITIAL_CLUSTER_ERROR}{exc}") from None
    found: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for scheme, base in (("https", "etcd-server"), ("http", "etcd-server")):
        service = srv_service(base, config.discovery_srv_name, scheme)
        try:
            records = await lookup_srv(service, config.discovery_srv)
            found[scheme] = await cluster_from_srv(
                scheme, service, records, config.name, own, resolve
            )
        except ResolveError as exc:
            errors[scheme] = f"error querying DNS SRV records for _{service} {exc}"
        log.info("get cluster for %s SRV: found %s%s", service, found.get(scheme, []),
                 f" ({errors[scheme]})" if scheme in errors else "")  # fmt: skip
    if "https" in errors:  # etcd 3.4.23 keeps only the https entries (see the module doc)
        raise BootstrapError(INITIAL_CLUSTER_ERROR + errors["https"])
    for entry in found["https"]:
        log.info("got bootstrap from DNS for etcd-server at %s", entry)
    return ",".join(found["https"])


async def _resolved(urls: Sequence[str], resolve: Resolver, deadline: float) -> list[str]:
    """netutil.resolveTCPAddrs: each named host replaced by its address, retried each second
    until the deadline."""
    out = []
    for url in urls:
        if not names_a_host(url):
            out.append(url)
            continue
        host, port = host_port(url)
        while True:
            try:
                address = await resolve(_join(host, port))
                break
            except ResolveError as exc:
                if time.monotonic() + RETRY_INTERVAL > deadline:
                    raise ResolveError(f'failed to resolve "{url}" ({exc})') from None
                log.warning("failed to resolve URL host %s, retrying in 1s: %s", url, exc)
                await asyncio.sleep(RETRY_INTERVAL)
        out.append(f"{url.split('://', 1)[0]}://{address}")
    return sorted(out)


async def urls_equal(
    a: Sequence[str], b: Sequence[str], resolve: Resolver, timeout: float = MATCH_TIMEOUT
) -> str | None:
    """netutil.URLStringsEqual: None when equal as strings or once resolved, else the reason
    etcd gives."""
    if len(a) != len(b):
        return f"len({_go_quote(a)}) != len({_go_quote(b)})"
    if sorted(a) == sorted(b):
        return None
    deadline = time.monotonic() + timeout
    try:
        ra, rb = await _resolved(a, resolve, deadline), await _resolved(b, resolve, deadline)
    except ResolveError as exc:
        return str(exc)
    for x, y in zip(ra, rb, strict=True):
        if x != y:
            return f'resolved urls: "{x}" != "{y}"'
    return None


def _go_quote(urls: Sequence[str]) -> str:
    return "[" + " ".join(f'"{u}"' for u in urls) + "]"


async def check_advertised(config: Config, resolve: Resolver = resolve_tcp) -> None:
    """etcd's advertiseMatchesCluster: this member's --initial-cluster entry names the same
    addresses as its advertised peer URLs, names resolved."""
    listed = dict(config.initial_cluster).get(config.name, ())
    advertised = config.initial_advertise_peer_urls
    reason = await urls_equal(advertised, listed, resolve)
    if reason is None:
        return
    missing = [f"{config.name}={u}" for u in listed if u not in advertised]
    if missing:
        raise BootstrapError(
            f"--initial-cluster has {','.join(missing)} but missing from "
            f"--initial-advertise-peer-urls={','.join(sorted(advertised))} ({reason})"
        )
    extra = [u for u in advertised if u not in listed]
    raise BootstrapError(
        f"--initial-advertise-peer-urls has {','.join(extra)} but missing from "
        f"--initial-cluster={','.join(f'{config.name}={u}' for u in listed)} ({reason})"
    )


async def srv_bootstrap_config(config: Config) -> Config:
    """The Config to start with: with --discovery-srv (and no data yet), the cluster the SRV
    records describe; a member also checks it is one of them under its advertised URLs."""
    if member_initialized(config.data_dir, config.wal_dir):
        return config
    if config.discovery_srv and not os.path.isdir(proxy_dir(config.data_dir)):
        text = await dns_cluster(config)
        if "https://" in text and not dict(config.tls_files).get("peer-trusted-ca-file"):
            raise BootstrapError(
                "https peers found by --discovery-srv without --peer-trusted-ca-file: etcd "
                "then verifies peer certificates for the SRV domain against the system roots, "
                "which pyetcd does not do; give --peer-trusted-ca-file"
            )
        try:
            cluster = parse_initial_cluster(text)
        except URLError as exc:
            raise BootstrapError(f"{INITIAL_CLUSTER_ERROR}{exc}") from None
        config = dataclasses.replace(config, initial_cluster=tuple(sorted(cluster.items())))
        if config.proxy != "off":
            return config
        if config.name not in cluster:
            raise BootstrapError(
                f'{INITIAL_CLUSTER_ERROR}cannot find local etcd member "{config.name}" in SRV '
                "records"
            )
    if config.proxy == "off":
        await check_advertised(config)
    return config
