"""Replay one seed: `python -m tests.sim --seed N [--trace]`."""

from __future__ import annotations

import argparse
import sys

from tests.sim.world import FAULT_MS, World, swarm_profile, with_core_defaults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--trace", action="store_true", help="print every event as it happens")
    parser.add_argument("--fault-ms", type=int, default=FAULT_MS, help="virtual ms of faults")
    parser.add_argument(
        "--core-defaults",
        action="store_true",
        help="keep the seed's faults but run the core with its default knobs (how the "
        "regression seeds were found)",
    )
    args = parser.parse_args(argv)
    trace = print if args.trace else None
    profile = with_core_defaults(swarm_profile(args.seed)) if args.core_defaults else None
    world = World(args.seed, profile=profile, trace=trace, fault_ms=args.fault_ms)
    print(f"seed {args.seed}: {world.profile.describe()}")
    try:
        outcome = world.run()
    except AssertionError as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    print(outcome.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
