"""WAL group-commit throughput next to a raw write+fdatasync loop on the same disk, same run.

    .venv/bin/python bench/wal_bench.py [--dir DIR] [--slice 0.25] [--rounds 20]

Every WAL save is one raft Ready: a batch of 100-byte entries plus a changed hard state, synced.
The disk is shared with other work, so the workloads take turns in short slices for `--rounds`
rounds: all of them see the same conditions, and each ratio is taken within a round, then the
median over rounds is reported (with the median and best absolute rates).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from typing import Protocol

from raft.aio.fs import OsFS
from raft.aio.wal import WAL, HardState, Metadata, WalEntry

ENTRY_BYTES = 100
RECORD = b"r" * (ENTRY_BYTES + 30)  # about one entry's WAL record


class Workload(Protocol):
    def run(self, seconds: float) -> int:
        """Sync as often as possible for `seconds`; returns the number of entries made durable."""
        ...

    def close(self) -> None: ...


class RawLoop:
    """One entry-sized record per fdatasync, appended or written into preallocated space."""

    def __init__(self, path: str, preallocate: bool) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if preallocate:
            os.posix_fallocate(self._fd, 0, 256 << 20)
        self._offset = 0

    def run(self, seconds: float) -> int:
        syncs = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            os.pwrite(self._fd, RECORD, self._offset)
            os.fdatasync(self._fd)
            self._offset += len(RECORD)
            syncs += 1
        return syncs

    def close(self) -> None:
        os.close(self._fd)


class WalLoop:
    """Entries are built up front (raft builds them, not the WAL) and reused cyclically: a
    repeated index is a raft overwrite, the same bytes on disk as a new entry."""

    def __init__(self, path: str, batch: int, preallocate: bool) -> None:
        self._wal = WAL.create(OsFS(), path, Metadata(1, 1), preallocate=preallocate)
        data = b"v" * ENTRY_BYTES
        self._batches = [
            [WalEntry(2, i, 0, data) for i in range(first, first + batch)]
            for first in range(1, 64 * batch, batch)
        ]
        self._saves = 0

    def run(self, seconds: float) -> int:
        entries = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            batch = self._batches[self._saves % len(self._batches)]
            self._wal.save(HardState(2, 1, self._saves), batch, must_sync=True)
            self._saves += 1
            entries += len(batch)
        return entries

    def close(self) -> None:
        self._wal.close()


RAW = "raw write+fdatasync (append)"
ONE, HUNDRED = "WAL batch 1", "WAL batch 100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.getcwd(), help="a directory on the disk to measure")
    parser.add_argument("--slice", type=float, default=0.25, help="seconds per turn")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="wal-bench-", dir=args.dir)
    try:
        workloads: dict[str, Workload] = {
            RAW: RawLoop(os.path.join(scratch, "raw"), preallocate=False),
            "raw write+fdatasync (preallocated)": RawLoop(os.path.join(scratch, "pre"), True),
            "WAL batch 1 (no preallocation)": WalLoop(os.path.join(scratch, "w0"), 1, False),
            ONE: WalLoop(os.path.join(scratch, "w1"), 1, True),
            "WAL batch 10": WalLoop(os.path.join(scratch, "w10"), 10, True),
            HUNDRED: WalLoop(os.path.join(scratch, "w100"), 100, True),
        }
        batch = {name: 100 if name == HUNDRED else 10 if "10" in name else 1 for name in workloads}
        rates: dict[str, list[float]] = {name: [] for name in workloads}
        for _ in range(args.rounds):
            for name, workload in workloads.items():
                rates[name].append(workload.run(args.slice) / args.slice)
        for workload in workloads.values():
            workload.close()
    finally:
        shutil.rmtree(scratch)
    print(f"{'workload':36} {'syncs/s':>8} {'best':>6} {'entries/s':>10} {'best':>7} {'MB/s':>6}")
    for name, entry_rates in rates.items():
        median, best = statistics.median(entry_rates), max(entry_rates)
        print(
            f"{name:36} {median / batch[name]:8.0f} {best / batch[name]:6.0f}"
            f" {median:10.0f} {best:7.0f} {median * ENTRY_BYTES / 1e6:6.2f}"
        )
    one_vs_raw = statistics.median(o / r for o, r in zip(rates[ONE], rates[RAW], strict=True))
    hundred_vs_one = statistics.median(
        h / o for h, o in zip(rates[HUNDRED], rates[ONE], strict=True)
    )
    print(f"WAL batch 1 / raw append syncs/s, median per round: {one_vs_raw:.2f}x (>= 0.8x)")
    print(f"WAL batch 100 / batch 1 entries/s, median per round: {hundred_vs_one:.1f}x (>= 50x)")


if __name__ == "__main__":
    main()
