"""`python -m bench api [--duration S] [--quick]`: the API benchmark as a markdown table.

`python -m bench cluster [--duration S] [--quick]`: the same, 3-member clusters, more workloads.

`python -m bench profile get|put|fanout [--size N] [--members 3]`: where pyetcd's time goes
under one load (with --members 3: in the leader of a 3-member cluster).

`python -m bench scale [--keys N] [--sizes 1,3]`: fill rate, memory, disk, restart, snapshot
stalls and follower catch-up of stores of N keys.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from bench import api, cluster, harness, profile, scale

# The cluster suite's workloads by their wrk method in lower case: put, get, qget, mix.
_WORKLOADS = {method.lower(): name for name, method in cluster.WORKLOADS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="suite", required=True)
    run = sub.add_parser("api", help="GET, PUT and watch fan-out against pyetcd and etcd")
    run.add_argument("--duration", type=float, default=10.0, help="seconds per load cell")
    run.add_argument("--rounds", type=int, default=20, help="fan-out rounds per cell")
    run.add_argument("--quick", action="store_true", help="2 s cells and 5 fan-out rounds")
    run.add_argument("--impl", nargs="+", choices=("etcd", "pyetcd"), default=["etcd", "pyetcd"])
    run.add_argument("--out", help="also write the markdown to this file")
    clu = sub.add_parser("cluster", help="3-member pyetcd against 3-member etcd")
    clu.add_argument("--duration", type=float, default=10.0, help="seconds per load cell")
    clu.add_argument("--rounds", type=int, default=20, help="fan-out rounds")
    clu.add_argument("--quick", action="store_true", help="2 s cells and 5 fan-out rounds")
    clu.add_argument("--impl", nargs="+", choices=("etcd", "pyetcd"), default=["etcd", "pyetcd"])
    clu.add_argument(
        "--workloads",
        nargs="+",
        choices=tuple(_WORKLOADS),
        default=list(_WORKLOADS),
        help="request workloads: PUT, local GET, quorum GET, 90/10 mix (default: all)",
    )
    clu.add_argument("--connections", nargs="+", type=int, default=list(cluster.CONNECTIONS))
    clu.add_argument("--watchers", nargs="*", type=int, default=list(cluster.WATCHERS))
    clu.add_argument("--out", help="also write the markdown to this file")
    prof = sub.add_parser("profile", help="py-spy profile of pyetcd under one workload")
    prof.add_argument("workload", choices=("get", "put", "fanout"))
    prof.add_argument("--size", type=int, default=16, help="connections, or watchers for fanout")
    prof.add_argument("--duration", type=float, default=10.0)
    prof.add_argument("--native", action="store_true", help="include C/Cython frames")
    prof.add_argument(
        "--members",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: profile the leader of a 3-member cluster",
    )
    _add_scale(sub)
    args = parser.parse_args(argv)
    if args.suite == "profile":
        return profile.main(args.workload, args.size, args.duration, args.native, args.members)
    if args.suite == "scale":
        return _run_scale(parser, args, argv)
    duration, rounds = (2.0, 5) if args.quick else (args.duration, args.rounds)
    if duration < 1 or rounds < 1:
        parser.error("--duration must be >= 1 and --rounds >= 1")
    machine = harness.machine_note()
    command = _command(argv)
    if args.suite == "cluster":
        if min(args.connections) < 1 or min(args.watchers, default=1) < 1:
            parser.error("--connections and --watchers must be >= 1")
        cluster_suite = cluster.run_suite(
            args.impl,
            duration,
            rounds,
            cluster.cells(args.connections, args.watchers, [_WORKLOADS[w] for w in args.workloads]),
            progress=_progress,
        )
        text = cluster.render(cluster_suite, command, machine)
    else:
        suite = api.run_suite(args.impl, duration, rounds, api.cells(), progress=_progress)
        text = api.render(suite, command, machine)
    _emit(text, args.out)
    return 0


def _emit(text: str, out: str | None) -> None:
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text)


def _command(argv: list[str] | None) -> str:
    return shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])


def _add_scale(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("scale", help="stores of many keys: fill, memory, restart, snapshots")
    run.add_argument("--keys", type=int, default=scale.KEYS, help="keys to fill (default 1e6)")
    run.add_argument("--sizes", default="1,3", help="cluster sizes, comma-separated (1 and 3)")
    run.add_argument("--impl", nargs="+", choices=("etcd", "pyetcd"), default=["etcd", "pyetcd"])
    run.add_argument(
        "--snapshot-count",
        type=int,
        help=f"on every member (default: keys/10, within {scale.MIN_SNAPSHOT_COUNT:,}"
        f"-{scale.MAX_SNAPSHOT_COUNT:,})",
    )
    run.add_argument("--out", help="also write the markdown to this file")


def _run_scale(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None
) -> int:
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes comma-separated member counts, e.g. 1,3")
    if (
        not set(sizes) <= {1, 3}
        or args.keys < 1
        or (args.snapshot_count is not None and args.snapshot_count < 2)
    ):
        parser.error("--sizes may hold 1 and 3, --keys must be >= 1, --snapshot-count >= 2")
    machine = harness.machine_note()
    suite = scale.run_suite(args.impl, args.keys, sizes, args.snapshot_count, progress=_progress)
    _emit(scale.render(suite, _command(argv), machine), args.out)
    return 0


def _progress(line: str) -> None:
    print(f"running {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
