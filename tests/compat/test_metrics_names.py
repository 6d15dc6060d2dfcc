"""/metrics of real etcd and of pyetcd, same kind of cluster, same traffic: pyetcd exports every
etcd 3.4 family that means something for a v2 member, with etcd's type and label names.

What etcd exports and pyetcd deliberately does not is `NO_V2_MEANING`, each with its reason
(v3 API, gRPC, the bbolt backend, Go's runtime). Any other family etcd shows and pyetcd lacks
fails the test, and so does a family both show with a different type, label set or help text.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from signal import SIGCONT, SIGSTOP

import pytest

from tests.cluster.client import call, wait_for
from tests.cluster.conftest import SNAP_WRITES
from tests.cluster.harness import Cluster, Node, running_cluster
from tests.cluster.load import Writers

if shutil.which("etcd") is None:
    pytest.skip(
        "real etcd (Debian etcd-server 3.4.23) is not installed: the metrics oracle is missing",
        allow_module_level=True,
    )

pytestmark = pytest.mark.timeout(300)

# Family name patterns etcd 3.4.23 exports that have no meaning for a v2-only member.
NO_V2_MEANING: dict[str, str] = {
    r"go_.*": "Go runtime; pyetcd exports Python's (python_gc_*, python_info) instead",
    r"etcd_server_go_version": "Go version; python_info says which Python runs",
    r"grpc_server_.*": "gRPC server (v3 API)",
    r"etcd_grpc_proxy_.*": "gRPC proxy (v3 API)",
    r"etcd_network_client_grpc_.*": "gRPC client traffic (v3 API)",
    r"etcd_server_client_requests_total": "gRPC requests by type (v3 API)",
    r"etcd_(debugging_)?mvcc_.*": "v3 MVCC key-value store",
    r"etcd_debugging_lease_.*": "v3 leases",
    r"etcd_debugging_server_lease_expired_total": "v3 leases",
    r"etcd_server_lease_expired_total": "v3 leases",
    r"etcd_debugging_auth_revision": "v3 auth store revision",
    r"etcd_(debugging_)?disk_backend_.*": "bbolt backend (v3 store)",
    r"etcd_disk_defrag_inflight": "bbolt defragmentation (v3 store)",
    r"etcd_snap_db_.*": "v3 database snapshot (.snap.db)",
    r"etcd_server_quota_backend_bytes": "bbolt backend quota (v3 store)",
    r"etcd_server_learner_promote_.*": "learners are promoted through the v3 API only",
}

_HELP = re.compile(r"^# HELP (\S+) (.*)$")
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')


Family = tuple[str, frozenset[str], str]


def families(text: str) -> dict[str, Family]:
    """Family name -> (type, label names of its series (`le` aside), help text)."""
    found: dict[str, tuple[str, set[str], str]] = {}
    helps: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        described = _HELP.match(line)
        if described:
            helps[described[1]] = described[2]
            continue
        typed = _TYPE.match(line)
        if typed:
            current = typed[1]
            found[current] = (typed[2], set(), helps.get(current, ""))
            continue
        sample = _SAMPLE.match(line)
        if sample and current and sample[1].startswith(current):
            found[current][1].update(n for n in _LABEL.findall(sample[2] or "") if n != "le")
    return {name: (kind, frozenset(labels), doc) for name, (kind, labels, doc) in found.items()}


def _no_v2_meaning(name: str) -> bool:
    return any(re.fullmatch(pattern, name) for pattern in NO_V2_MEANING)


def _traffic(cluster: Cluster) -> None:
    """Writes, reads, a quorum read, a watch that fires, health checks, on every member."""
    first = cluster.nodes[0].client_port
    form = "application/x-www-form-urlencoded"
    for i in range(5):
        reply = call(first, "PUT", f"/v2/keys/k{i}", b"value=v", form, 5.0)
        assert reply is not None and reply.status in (200, 201), reply
    reply = call(first, "GET", "/v2/keys/k0?wait=true&waitIndex=1", timeout=5.0)
    assert reply is not None and reply.status == 200, reply
    reply = call(first, "PUT", "/v2/keys/ttl?ttl=1", b"value=v", form, 5.0)
    assert reply is not None and reply.status == 201, reply
    for node in cluster.nodes:
        for target in ("/v2/keys/k1", "/v2/keys/?recursive=true", "/v2/keys/k2?quorum=true",
                       "/v2/keys/nope", "/health"):  # fmt: skip
            assert call(node.client_port, "GET", target, timeout=5.0) is not None


def _scrape(cluster: Cluster) -> Iterator[str]:
    for node in cluster.nodes:
        reply = call(node.client_port, "GET", "/metrics", timeout=5.0)
        assert reply is not None and reply.status == 200, reply
        yield reply.body.decode()


def skeleton(text: str, family: str) -> tuple[str, ...]:
    """A family's lines with the sample values cut off: Go's layout (bucket bounds and order,
    `_sum` before `_count`) without the figures."""
    return tuple(
        line.rsplit(" ", 1)[0]
        for line in text.splitlines()
        if line.startswith(family) and line[len(family)] in " _{"
    )


def _merged(cluster: Cluster) -> tuple[dict[str, Family], str]:
    """The union over the members' scrapes (leader and followers differ), and the first
    member's text."""
    merged: dict[str, Family] = {}
    texts = list(_scrape(cluster))
    for text in texts:
        for name, (kind, labels, doc) in families(text).items():
            old = merged.get(name, (kind, frozenset(), doc))
            merged[name] = (kind, old[1] | labels, doc)
    return merged, texts[0]


def _cluster_families(impl: str) -> tuple[dict[str, Family], str]:
    with running_cluster(impl, 3) as cluster:
        _traffic(cluster)
        return _merged(cluster)


def _shows(node: Node, series: str) -> bool | None:
    reply = call(node.client_port, "GET", "/metrics", timeout=5.0)
    text = reply.body.decode() if reply is not None else ""
    return True if f"\n{series}{{" in text else None


def _snapshot_families(impl: str) -> dict[str, Family]:
    """After a follower, paused past a compaction until the leader's stream to it broke,
    caught up by snapshot."""
    with running_cluster(impl, 3, ("--snapshot-count", "100")) as cluster:
        leader = cluster.leader()
        paused = next(n for n in cluster.nodes if n is not leader)
        others = [n.client_port for n in cluster.nodes if n is not paused]
        paused.signal(SIGSTOP)
        writers = Writers("snap", lambda: others, count=4, max_writes=SNAP_WRITES // 4)
        writers.start()
        writers.join(timeout=120.0)
        series = "etcd_network_disconnected_peers_total"
        wait_for(lambda: _shows(leader, series), 30.0, f"{impl}: the stream breaking", 0.2)
        paused.signal(SIGCONT)
        series = "etcd_network_snapshot_receive_success"
        wait_for(lambda: _shows(paused, series), 30.0, f"{impl}: a snapshot received", 0.1)
        return _merged(cluster)[0]


def _compare(etcd: dict[str, Family], ours: dict[str, Family]) -> set[str]:
    """Fails on any v2-meaningful etcd family pyetcd lacks or shows differently; returns
    the families compared."""
    wanted = {name for name in etcd if not _no_v2_meaning(name)}
    missing = sorted(wanted - ours.keys())
    assert not missing, f"etcd families pyetcd lacks: {missing}"
    differing = {name: (etcd[name], ours[name]) for name in wanted if etcd[name] != ours[name]}
    assert not differing, f"type, label names or help differ (etcd, pyetcd): {differing}"
    shown = [name for name in ours if _no_v2_meaning(name)]
    assert not shown, f"pyetcd exports families listed as having no v2 meaning: {shown}"
    return wanted


def test_skeleton_keeps_the_layout_only() -> None:
    text = 'h_bucket{le="1"} 3\nh_sum 2.5\nh_count 3\nhx 1\nh 4\n'
    assert skeleton(text, "h") == ('h_bucket{le="1"}', "h_sum", "h_count", "h")


def test_parser_reads_types_and_label_names() -> None:
    text = (
        '# HELP a_total x\n# TYPE a_total counter\na_total{To="1",b="q\\""} 1\n'
        '# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n'
    )
    assert families(text) == {
        "a_total": ("counter", frozenset({"To", "b"}), "x"),
        "h": ("histogram", frozenset(), ""),
    }


def test_pyetcd_exports_every_v2_meaningful_etcd_family() -> None:
    etcd, etcd_text = _cluster_families("etcd")
    ours, our_text = _cluster_families("pyetcd")
    wanted = _compare(etcd, ours)
    assert "python_info" in ours and "process_cpu_seconds_total" in ours
    for name in sorted(n for n in wanted if etcd[n][0] == "histogram" and not etcd[n][1]):
        assert skeleton(our_text, name) == skeleton(etcd_text, name), name


def test_snapshot_families_after_a_snapshot_catch_up() -> None:
    etcd = _snapshot_families("etcd")
    compared = _compare(etcd, _snapshot_families("pyetcd"))
    assert {"etcd_network_snapshot_send_success", "etcd_network_snapshot_receive_success"} <= (
        compared
    ), sorted(n for n in compared if "snapshot" in n)
