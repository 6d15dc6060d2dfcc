"""SIGKILL a real appending process at random moments; every acknowledged save must survive.

The default run does 20 kills; `WAL_KILLS=200` runs the long version.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from raft.aio.fs import OsFS
from raft.aio.wal import WAL
from tests.wal.appender import payload, usable_snapshot

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("WAL_KILLS", "20"))
SEGMENT_SIZE = 64 * 1024


def _run_and_kill(root: Path, seed: int, rng: random.Random) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.wal.appender", str(root), str(seed), str(SEGMENT_SIZE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            ready.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 0.3))  # sometimes while booting: open, repair, release
        else:
            assert ready.wait(30), "appender never became ready"
            time.sleep(rng.uniform(0.0, 0.15))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join()
        proc.stdout.close()
    return lines


def _check(root: Path, acked: int) -> None:
    """Reopen as a member would; the log must be gapless and reach every acknowledged index."""
    if not WAL.exists(OsFS(), str(root / "wal")):
        assert acked == 0, "killed before the WAL existed, yet saves were acknowledged"
        return
    marker = usable_snapshot(OsFS(), str(root))
    base = marker.index if marker else 0
    wal, replay = WAL.open(OsFS(), str(root / "wal"), marker, segment_size=SEGMENT_SIZE)
    wal.close()
    indexes = [e.index for e in replay.entries]
    assert indexes == list(range(base + 1, base + 1 + len(indexes))), "gap in the replayed log"
    last = indexes[-1] if indexes else base
    assert last >= acked, f"acknowledged index {acked} lost (log ends at {last})"
    assert replay.hard_state.commit >= acked
    for entry in replay.entries:
        assert entry.data == payload(entry.index, len(entry.data))


def test_sigkill_never_loses_an_acknowledged_save(tmp_path: Path) -> None:
    rng = random.Random(4)
    acked = 0
    for kill in range(KILLS):
        lines = _run_and_kill(tmp_path, kill, rng)
        acked = max([acked, *(int(line) for line in lines if not line.startswith("ready"))])
        _check(tmp_path, acked)
    assert acked > 0
