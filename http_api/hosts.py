"""`--host-whitelist`: etcd's guard against DNS rebinding (CVE-2018-5702) on plain HTTP.

A plain-HTTP request whose Host names a host outside the list gets 421 with etcd's advice, before
CORS or any route; TLS connections are exempt (the certificate already names the server).
"""

from __future__ import annotations

__all__ = ["HostWhitelist", "go_hostname", "go_quote", "host_problem", "rejection_text"]

# httpguts.ValidHostHeader's bytes: what Go's server lets through before any handler runs.
_HOST_BYTES = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&'()*+,-.:;=[]_~"
)
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}  # fmt: skip


def host_problem(host: str | None, http11: bool) -> str | None:
    """Why Go's server refuses a request's Host header (its `400 Bad Request: ...` detail),
    or None; `host` is None when the request has none."""
    if host is None:
        return "missing required Host header" if http11 else None
    if not _HOST_BYTES.issuperset(host):
        return "malformed Host header"
    return None


def go_hostname(host: str) -> str:
    """The host of a Host header as etcd takes it: `net.SplitHostPort`'s host, or the whole
    value when it does not split (no port, too many colons)."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or host[end + 1 : end + 2] != ":" or ":" in host[end + 2 :]:
            return host
        return host[1:end]
    name, colon, _port = host.rpartition(":")
    if not colon or ":" in name:
        return host
    return name


def go_quote(text: str) -> str:
    """Go's `%q` of a string of printable or ASCII characters."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def rejection_text(host: str) -> str:
    """etcd's 421 body (before `http.Error`'s newline)."""
    return (
        "\netcd received your request, but the Host header was unrecognized.\n\n"
        "To fix this, choose one of the following options:\n"
        "- Enable TLS, then any HTTPS request will be allowed.\n"
        "- Add the hostname you want to use to the whitelist in settings.\n"
        f"  - e.g. etcd --host-whitelist {go_quote(host)}\n\n"
        'This requirement has been added to help prevent "DNS Rebinding" attacks '
        "(CVE-2018-5702).\n"
    )


class HostWhitelist:
    """The accepted host names; empty or containing `*`: every host."""

    __slots__ = ("_hosts", "restricts")

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self._hosts = frozenset(hosts)
        self.restricts = bool(self._hosts) and "*" not in self._hosts

    def allows(self, hostname: str) -> bool:
        """`hostname` as `go_hostname` gives it."""
        return not self.restricts or hostname in self._hosts
