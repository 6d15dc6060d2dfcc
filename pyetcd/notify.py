"""systemd readiness: Debian's etcd unit is `Type=notify`, so a drop-in must send `READY=1`."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("etcdmain")


def notify_ready(environ: Mapping[str, str] = os.environ) -> bool:
    """Tell systemd this member serves; a no-op (False) outside a notify unit."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(b"READY=1")
    except OSError as exc:
        log.error("failed to notify systemd for readiness: %s", exc)
        return False
    log.info("notified systemd that this member is ready to serve")
    return True
