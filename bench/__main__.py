"""`python -m bench api [--duration S] [--quick]`: the API benchmark as a markdown table.

`python -m bench profile get|put|fanout [--size N]`: where pyetcd's time goes under one load.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from bench import api, harness, profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="suite", required=True)
    run = sub.add_parser("api", help="GET, PUT and watch fan-out against pyetcd and etcd")
    run.add_argument("--duration", type=float, default=10.0, help="seconds per load cell")
    run.add_argument("--rounds", type=int, default=20, help="fan-out rounds per cell")
    run.add_argument("--quick", action="store_true", help="2 s cells and 5 fan-out rounds")
    run.add_argument("--impl", nargs="+", choices=("etcd", "pyetcd"), default=["etcd", "pyetcd"])
    run.add_argument("--out", help="also write the markdown to this file")
    prof = sub.add_parser("profile", help="py-spy profile of pyetcd under one workload")
    prof.add_argument("workload", choices=("get", "put", "fanout"))
    prof.add_argument("--size", type=int, default=16, help="connections, or watchers for fanout")
    prof.add_argument("--duration", type=float, default=10.0)
    prof.add_argument("--native", action="store_true", help="include C/Cython frames")
    args = parser.parse_args(argv)
    if args.suite == "profile":
        return profile.main(args.workload, args.size, args.duration, args.native)
    duration, rounds = (2.0, 5) if args.quick else (args.duration, args.rounds)
    if duration < 1 or rounds < 1:
        parser.error("--duration must be >= 1 and --rounds >= 1")
    machine = harness.machine_note()
    suite = api.run_suite(
        args.impl,
        duration,
        rounds,
        api.cells(),
        progress=lambda line: print(f"running {line}", file=sys.stderr, flush=True),
    )
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    text = api.render(suite, command, machine)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
