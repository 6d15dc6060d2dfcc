"""An https `--listen-metrics-urls` uses the client TLS material, as etcd's does, and TLS
connections skip the `--host-whitelist` check: etcd vs pyetcd, one mutual-TLS member each."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests import procs
from tests.tls_cluster.cluster import HOST, Cluster, Member, make_pki, tls_client

if shutil.which("etcd") is None:
    pytest.skip(
        "real etcd (Debian etcd-server 3.4.23) is not installed: the compat oracle is missing",
        allow_module_level=True,
    )

pytestmark = pytest.mark.timeout(180)


def _get(port: int, ctx: ssl.SSLContext, path: str, host: str | None = None) -> str:
    """'<status> <body start>', or 'refused' (how a TLS refusal surfaces, an alert during the
    handshake or a close after it, depends on each TLS stack's timing, not on the member)."""
    conn = http.client.HTTPSConnection(HOST, port, timeout=5, context=ctx)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        body = resp.read()
        return f"{resp.status} {body[:17].decode('utf-8', 'replace')}"
    except (OSError, http.client.HTTPException):
        return "refused"
    finally:
        conn.close()


def _observe(impl: str) -> dict[str, str]:
    root = Path(tempfile.mkdtemp(prefix=f"metrics-tls-{impl}-"))
    pki = make_pki(root / "pki")
    member = Member(impl, "m0", root / "m0")
    member.install(pki)
    cluster = Cluster(impl, root, pki, [member])
    metrics_port = procs.free_port()
    try:
        member.start(
            [
                *member.argv(cluster.initial_cluster, cluster.token, "new"),
                "--listen-metrics-urls", f"https://{HOST}:{metrics_port}",
                "--host-whitelist", "example.com",
            ]
        )  # fmt: skip
        cluster.wait_ready(member)  # over TLS, with Host 127.0.0.1: TLS is exempt
        client = cluster.client
        anonymous = tls_client(pki.ca)
        return {
            "metrics": _get(metrics_port, client, "/metrics"),
            "health": _get(metrics_port, client, "/health"),
            "metrics without a client certificate": _get(metrics_port, anonymous, "/metrics"),
            "client port, foreign Host over TLS": _get(
                member.client_port, client, "/version", "evil.example"
            ),
        }
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_https_metrics_listener_and_tls_host_exemption_as_etcd() -> None:
    etcd = _observe("etcd")
    assert etcd["metrics"] == "200 # HELP etcd_clust", etcd
    assert etcd["health"] == '200 {"health":"true"}', etcd
    assert etcd["client port, foreign Host over TLS"].startswith("200 "), etcd
    assert etcd["metrics without a client certificate"] == "refused", etcd
    assert _observe("pyetcd") == etcd


def _refusal(impl: str) -> tuple[int, str]:
    """Exit status and the last log line's message of a start with an https metrics URL but
    no client TLS material."""
    with tempfile.TemporaryDirectory(prefix=f"metrics-notls-{impl}-") as tmp:
        client, peer, metrics = (f"{HOST}:{procs.free_port()}" for _ in range(3))
        argv = [
            *procs.command(impl), "--name", "m0", "--data-dir", f"{tmp}/data",
            "--listen-client-urls", f"http://{client}", "--advertise-client-urls", f"http://{client}",
            "--listen-peer-urls", f"http://{peer}", "--initial-advertise-peer-urls", f"http://{peer}",
            "--initial-cluster", f"m0=http://{peer}", "--listen-metrics-urls", f"https://{metrics}",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1]
    return done.returncode, last.split(" | ", 1)[1].replace(metrics, "METRICS")


def test_https_metrics_url_without_tls_material_is_refused_as_etcd() -> None:
    etcd = _refusal("etcd")
    assert etcd == (1, "etcdmain: cannot listen on TLS for METRICS: KeyFile and CertFile are not "
                       "presented")  # fmt: skip
    assert _refusal("pyetcd") == etcd
