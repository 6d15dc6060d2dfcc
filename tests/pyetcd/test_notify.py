"""systemd readiness notification."""

from __future__ import annotations

import socket
from pathlib import Path

from pyetcd.notify import notify_ready


def test_sends_ready_to_the_notify_socket(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "n"))
        assert notify_ready({"NOTIFY_SOCKET": str(tmp_path / "n")})
        assert sock.recv(64) == b"READY=1"


def test_outside_systemd_or_with_a_dead_socket_it_only_reports(tmp_path: Path) -> None:
    assert not notify_ready({})
    assert not notify_ready({"NOTIFY_SOCKET": str(tmp_path / "missing")})
    assert not notify_ready({"NOTIFY_SOCKET": "@pyetcd-test-no-such-abstract-socket"})
