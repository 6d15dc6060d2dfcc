"""The image's HEALTHCHECK script: where it probes and what it calls healthy."""

from __future__ import annotations

import contextlib
import importlib.util
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.packaging.tree import ROOT
from tests.pyetcd.harness import free_ports
from tests.tls.helpers import Pki


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", ROOT / "packaging" / "docker" / "healthcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hc = _load()


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        (None, "http://localhost:2379/health"),
        ("", "http://localhost:2379/health"),
        ("http://0.0.0.0:12379", "http://127.0.0.1:12379/health"),
        ("https://[::]:2379", "https://[::1]:2379/health"),
        ("http://10.0.0.5:4001,http://127.0.0.1:2379", "http://10.0.0.5:4001/health"),
        (" https://127.0.0.1:3379 ", "https://127.0.0.1:3379/health"),
    ],
)
def test_probes_the_first_listen_client_url(listen: str | None, url: str) -> None:
    environ = {} if listen is None else {"ETCD_LISTEN_CLIENT_URLS": listen}
    assert hc.probe_url(environ) == url


@pytest.mark.parametrize("listen", ["http://127.0.0.1", "unix://sock:1", "127.0.0.1:2379"])
def test_a_url_it_cannot_probe_is_an_error(listen: str) -> None:
    with pytest.raises(ValueError, match="cannot probe"):
        hc.probe_url({"ETCD_LISTEN_CLIENT_URLS": listen})


@pytest.mark.parametrize(
    ("status", "body", "healthy"),
    [
        (200, b'{"health":"true"}', True),
        (503, b'{"health":"false"}', False),
        (200, b'{"health":"false"}', False),
        (200, b"not json", False),
        (200, b"[]", False),
    ],
)
def test_only_etcds_healthy_answer_counts(status: int, body: bytes, healthy: bool) -> None:
    assert hc.is_healthy(status, body) is healthy


class _Health(BaseHTTPRequestHandler):
    answer = (200, b'{"health":"true"}')

    def do_GET(self) -> None:
        status, body = self.answer if self.path == "/health" else (404, b"")
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serving(tls: ssl.SSLContext | None = None) -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    with _serving() as server:
        yield server


def test_exit_status_follows_the_member(health_server: HTTPServer) -> None:
    port = health_server.server_address[1]
    environ = {"ETCD_LISTEN_CLIENT_URLS": f"http://0.0.0.0:{port}"}
    assert hc.main(environ) == 0
    _Health.answer = (503, b'{"health":"false"}')
    try:
        assert hc.main(environ) == 1
    finally:
        _Health.answer = (200, b'{"health":"true"}')
    assert hc.main({"ETCD_LISTEN_CLIENT_URLS": f"http://127.0.0.1:{free_ports(1)[0]}"}) == 1
    assert hc.main({"ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1"}) == 1


def test_https_with_client_cert_auth_presents_the_members_certificate(tmp_path: Path) -> None:
    """The probe trusts ETCD_TRUSTED_CA_FILE and authenticates with the member's own pair."""
    pki = Pki(tmp_path)
    ca, other = pki.ca("etcdCA"), pki.ca("otherCA")
    server = pki.leaf(ca, "member", ips=["127.0.0.1"])
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server.cert, server.key)
    tls.load_verify_locations(ca.cert)
    tls.verify_mode = ssl.CERT_REQUIRED
    with _serving(tls) as https:
        environ = {
            "ETCD_LISTEN_CLIENT_URLS": f"https://0.0.0.0:{https.server_address[1]}",
            "ETCD_TRUSTED_CA_FILE": str(ca.cert),
            "ETCD_CERT_FILE": str(server.cert),
            "ETCD_KEY_FILE": str(server.key),
        }
        assert hc.main(environ) == 0
        assert hc.main({**environ, "ETCD_TRUSTED_CA_FILE": str(other.cert)}) == 1
        assert hc.main({**environ, "ETCD_CERT_FILE": "", "ETCD_KEY_FILE": ""}) == 1
