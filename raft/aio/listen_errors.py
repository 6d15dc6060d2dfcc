"""A failed bind in the words of Go's net package, which etcd prints as it is.

`listen tcp 127.0.0.1:2379: bind: address already in use` for a busy client or peer port, so
operators (and their log searches) see the same line from etcd and pyetcd.
"""

from __future__ import annotations

import os


def bind_error_text(host: str, port: int, exc: OSError) -> str:
    """`listen tcp HOST:PORT: bind: <reason>`; IPv6 hosts in brackets, as Go writes them, and
    `localhost` as the IPv4 loopback Go resolves it to."""
    host = "127.0.0.1" if host == "localhost" else host
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"listen tcp {address}: bind: {reason[:1].lower()}{reason[1:]}"
