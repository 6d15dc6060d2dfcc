"""URL flags checked with etcd's rules and worded with its (Go's) messages."""

from __future__ import annotations

import ipaddress
import string

SCHEMES = ("http", "https", "unix", "unixs")
_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + "+-.")
_BAD_HOST_CHARS = frozenset(' "<>`{}|\\^')


class URLError(ValueError):
    """A URL etcd would reject; `str()` is etcd's message."""


def _split_scheme(raw: str) -> tuple[str, str]:
    """Go's `getScheme`: a leading letter, then letters, digits, `+`, `-` or `.` up to `:`."""
    for i, char in enumerate(raw):
        if char.isascii() and char.isalpha():
            continue
        if char in _SCHEME_CHARS:
            if i == 0:
                return "", raw
            continue
        if char == ":":
            if i == 0:
                raise URLError(f'parse "{raw}": missing protocol scheme')
            return raw[:i].lower(), raw[i + 1 :]
        return "", raw
    return "", raw


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's `net.SplitHostPort`, reduced to the question etcd asks: is there a `host:port`?"""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not hostport[end + 1 :].startswith(":"):
            raise URLError("missing port")
        return hostport[1:end], hostport[end + 2 :]
    host, sep, port = hostport.rpartition(":")
    if not sep or ":" in host:
        raise URLError("missing port")
    return host, port


def _host_and_path(rest: str) -> tuple[str, str]:
    """Split `//user@host:port/path?query#fragment` into `host:port` and `/path`."""
    rest = rest[2:].split("#", 1)[0].split("?", 1)[0]
    authority, slash, path = rest.partition("/")
    return authority.rpartition("@")[2], slash + path


def parse_url(value: str) -> str:
    """One URL of a URL flag: scheme http/https/unix/unixs, `host:port`, no path."""
    raw = value.strip()
    scheme, rest = _split_scheme(raw)
    if not scheme and ":" in rest.split("/", 1)[0]:
        raise URLError(f'parse "{raw}": first path segment in URL cannot contain colon')
    host, path = "", rest
    if scheme and rest.startswith("//"):
        host, path = _host_and_path(rest)
        bad = next((c for c in host if c in _BAD_HOST_CHARS), None)
        if bad is not None:
            raise URLError(f'parse "{raw}": invalid character "{bad}" in host name')
        _, colon, port = ("", "", "") if host.endswith("]") else host.rpartition(":")
        if colon and port and not port.isdigit():
            raise URLError(f'parse "{raw}": invalid port ":{port}" after host')
    if scheme not in SCHEMES:
        raise URLError(f"URL scheme must be http, https, unix, or unixs: {raw}")
    try:
        split_host_port(host)
    except URLError:
        raise URLError(f'URL address does not have the form "host:port": {raw}') from None
    if path:
        raise URLError(f"URL must not contain a path: {raw}")
    return f"{scheme}{raw[len(scheme) :]}"


def parse_url_list(value: str) -> tuple[str, ...]:
    """A comma-separated URL flag; etcd keeps the list sorted."""
    return tuple(sorted(parse_url(item) for item in value.split(",")))


def host_port(url: str) -> tuple[str, int]:
    """The address a validated http(s) URL names (an empty port means Go's port 0)."""
    host, port = split_host_port(_host_and_path(url.split(":", 1)[1])[0])
    return host, int(port or 0)


def is_literal_host(host: str) -> bool:
    """An IP address or `localhost`: what etcd binds and compares without resolving."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def names_a_host(url: str) -> bool:
    """A URL whose host is a DNS name etcd resolves to compare it with another URL."""
    return not url.startswith(("unix://", "unixs://")) and not is_literal_host(host_port(url)[0])


def check_bind_urls(urls: tuple[str, ...]) -> None:
    """Listen URLs must name an IP or `localhost`: etcd does not resolve names to bind."""
    for url in urls:
        if names_a_host(url):
            raise URLError(f"expected IP in URL for binding ({url})")


def parse_initial_cluster(value: str) -> dict[str, tuple[str, ...]]:
    """`name=url,name=url`: a name may repeat to give one member several peer URLs."""
    raw: dict[str, list[str]] = {}
    for item in value.split(","):
        if not item:
            continue
        name, _, url = item.partition("=")
        raw.setdefault(name, []).append(url)
    return {name: tuple(sorted(parse_url(u) for u in urls)) for name, urls in raw.items()}
