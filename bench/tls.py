"""`python -m bench.tls`: the cost of client TLS, plain HTTP next to HTTPS in one run.

Per implementation two single members run side by side, one on http:// and one on https://
(certificates from `pyetcd-certs quickstart`, RSA 2048, TLS 1.3 as negotiated by wrk's OpenSSL),
and every cell is measured on one and then the other straight away: on a shared
machine only ratios taken this close together mean anything. wrk keeps its connections open,
so the figures are the steady-state cost of encryption, not of handshakes; wrk sends no client
certificate, so the TLS member runs without --trusted-ca-file (with one, etcd asks for a client
certificate even without --client-cert-auth).

PUT runs before GET on each server, so the GETs find the 1000 keys written (no preload needed
over TLS).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench import harness
from bench.load import LoadResult, run_wrk
from tests import procs
from tests.tls_cluster.cluster import TIMING, Cluster, Member, make_pki

KEYS = 1000
VALUE_SIZE = 100
WORKLOADS = ("PUT", "GET")
CONNECTIONS = (16,)
PLAIN_ARGS = ("--enable-v2", *TIMING)


class TLSServer(harness.Server):
    """A member whose client URL is https://."""

    @property
    def url(self) -> str:
        return f"https://{harness.HOST}:{self.port}"


def start_tls_server(impl: str) -> TLSServer:
    """One member serving clients over TLS (server certificate only) and peers over TLS."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-tls-{impl}-"))
    try:
        pki = make_pki(root / "pki")
        member = Member(impl, "b0", root / "b0", verify_clients=False)
        member.install(pki)
        cluster = Cluster(impl, root, pki, [member], token="bench-tls")
        cluster.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    assert member.proc is not None
    proc_member = procs.Member(
        impl,
        member.name,
        member.client_port,
        member.peer_port,
        cluster.token,
        str(root),
        member.proc,
        str(member.log_path),
    )
    return TLSServer(proc_member)


@contextmanager
def servers(impls: Sequence[str]) -> Iterator[dict[tuple[str, str], harness.Server]]:
    started: dict[tuple[str, str], harness.Server] = {}
    try:
        for impl in impls:
            started[impl, "http"] = harness.start_server(impl, PLAIN_ARGS)
            started[impl, "https"] = start_tls_server(impl)
        yield started
    finally:
        for server in started.values():
            server.stop()


Results = dict[tuple[str, str, str, int], LoadResult]


def run_suite(impls: Sequence[str], duration: float, connections: Sequence[int]) -> Results:
    results: Results = {}
    with servers(impls) as running:
        for workload in WORKLOADS:
            for conns in connections:
                for impl in impls:
                    for scheme in ("http", "https"):
                        print(f"running {impl} {scheme} {workload} c={conns}", file=sys.stderr)
                        results[impl, scheme, workload, conns] = run_wrk(
                            running[impl, scheme], workload, conns, duration, KEYS, VALUE_SIZE
                        )
    return results


def _cell(result: LoadResult) -> str:
    return (
        f"{result.rps:,.0f} · {result.p50_ms:.2f} / {result.p99_ms:.1f} · "
        f"{result.server_us_per_request:.0f} µs CPU/req"
        + (f" · {result.errors} errors" if result.errors else "")
    )


def render(results: Results, impls: Sequence[str], connections: Sequence[int]) -> str:
    lines = [
        "| impl | workload | conns | http req/s · p50 / p99 ms · CPU | "
        "https req/s · p50 / p99 ms · CPU | https/http |",
        "|---|---|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        for conns in connections:
            for impl in impls:
                plain, tls = (
                    results[impl, "http", workload, conns],
                    results[impl, "https", workload, conns],
                )
                ratio = tls.rps / plain.rps if plain.rps else 0.0
                cells = f"{_cell(plain)} | {_cell(tls)} | {ratio:.2f}"
                lines.append(f"| {impl} | {workload} | {conns} | {cells} |")
    if len(impls) == 2:
        lines += ["", "| workload | conns | pyetcd/etcd over https |", "|---|---|---|"]
        for workload in WORKLOADS:
            for conns in connections:
                etcd, py = (results[impl, "https", workload, conns] for impl in ("etcd", "pyetcd"))
                ratio = py.rps / etcd.rps if etcd.rps else 0.0
                lines.append(f"| {workload} | {conns} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell")
    parser.add_argument("--impl", nargs="+", choices=("etcd", "pyetcd"), default=["etcd"])
    parser.add_argument("--connections", nargs="+", type=int, default=list(CONNECTIONS))
    parser.add_argument("--out", help="also write the markdown to this file")
    args = parser.parse_args(argv)
    if args.duration < 1 or min(args.connections) < 1:
        parser.error("--duration and --connections must be >= 1")
    command = shlex.join(
        ["python", "-m", "bench.tls", *(argv if argv is not None else sys.argv[1:])]
    )
    machine = harness.machine_note()
    results = run_suite(args.impl, args.duration, args.connections)
    text = f"Command: `{command}`\n\nMachine: {machine}\n\n" + render(
        results, args.impl, args.connections
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
