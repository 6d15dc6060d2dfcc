"""The scale suite: a tiny run against real members (pyetcd, and etcd when installed), and its
parsers and table. No timing is asserted: only that every phase measured something sane."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import harness, scale
from bench.scale import (
    CatchupResult,
    FillResult,
    Latencies,
    RestartResult,
    Row,
    SnapshotResult,
    Suite,
)

KEYS = 2000
SNAPSHOT_COUNT = 1000
IMPLS = ["pyetcd", *(["etcd"] if shutil.which("etcd") else [])]
MIB = 2**20


def _cells(text: str, impl: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {impl} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_tiny_run_measures_every_phase_and_renders_every_column() -> None:
    suite = scale.run_suite(IMPLS, KEYS, (1,), SNAPSHOT_COUNT, harness.TEST_ARGS)
    assert suite.notes == []
    assert [row.impl for row in suite.rows] == IMPLS
    for row in suite.rows:
        assert isinstance(row.fill, FillResult), row.fill
        assert row.fill.writes == KEYS and row.fill.rate > 0
        assert 0 <= row.fill.last_key < KEYS
        assert len(row.rss_fill) == len(row.disk) == 1
        assert row.rss_fill[0] > MIB and row.disk[0] > KEYS * scale.VALUE_SIZE
        assert isinstance(row.restart, RestartResult), row.restart
        assert row.restart.clean and row.restart.seconds[0] > 0 and row.restart.rss[0] > MIB
        assert isinstance(row.snapshot, SnapshotResult), row.snapshot
        assert row.snapshot.without.writes == SNAPSHOT_COUNT // 2
        assert row.snapshot.during.writes >= SNAPSHOT_COUNT // 2
        assert 0 < row.snapshot.without.p99_ms <= row.snapshot.without.max_ms
        assert row.snapshot.file_s >= 0 and row.snapshot.save_s is not None
        assert row.catchup is None
    text = scale.render(suite, "python -m bench scale", "test machine")
    assert "| " + " | ".join(scale.COLUMNS) + " |" in text
    assert "Command: `python -m bench scale`" in text
    for impl in IMPLS:
        cells = _cells(text, impl)
        assert len(cells) == len(scale.COLUMNS) and cells[1] == "1"
        assert all(cells[:-1]) and cells[-1] == "—", cells


def test_metric_total_sums_every_labelled_sample_of_one_name() -> None:
    text = (
        "# HELP etcd_network_snapshot_receive_success Total\n"
        'etcd_network_snapshot_receive_success{From="a"} 2\n'
        'etcd_network_snapshot_receive_success{From="b"} 1\n'
        "etcd_network_snapshot_receive_success_other 7\n"
        "etcd_debugging_snap_save_total_duration_seconds_sum 0.25\n"
    )
    assert scale.metric_total(text, "etcd_network_snapshot_receive_success") == 3
    assert scale.metric_total(text, "etcd_debugging_snap_save_total_duration_seconds_sum") == 0.25
    assert scale.metric_total(text, "etcd_missing") is None


def test_snapshot_index_reads_the_newest_snap_file_name(tmp_path: Path) -> None:
    assert scale.snapshot_index(str(tmp_path)) == 0
    snap = tmp_path / "member" / "snap"
    snap.mkdir(parents=True)
    for name in (
        "0000000000000002-0000000000000065.snap",
        "0000000000000003-00000000000000ca.snap",
    ):
        (snap / name).write_bytes(b"")
    (snap / "db").write_bytes(b"")
    assert scale.snapshot_index(str(tmp_path)) == 0xCA


def test_latencies_take_the_nearest_rank_p99_and_the_max() -> None:
    got = Latencies.of([0.001] * 98 + [0.002, 0.5])
    assert got == Latencies(100, 2.0, 500.0)


def test_fill_blocks_cover_every_key_once() -> None:
    blocks = scale._fill_blocks(1003)
    assert len(blocks) == scale.FILL_BLOCKS
    assert [k for block in blocks for k in block] == list(range(1003))
    assert scale.key_path(1234) == "/v2/keys/d1/k1234"
    assert len(scale.value_of(1234)) == scale.VALUE_SIZE and scale.value_of(7).endswith("v7")


def test_render_shows_members_phases_and_errors() -> None:
    suite = Suite(["etcd", "pyetcd"], 1000, 1000)
    suite.rows.append(
        Row(
            "etcd",
            3,
            FillResult(1000, 0.5, 0.1, 0.05, 999),
            (50 * MIB, 60 * MIB, 70 * MIB),
            (MIB, MIB, 3 * MIB // 2),
            RestartResult((0.5, 1.25, 0.75), (40 * MIB, 41 * MIB, 42 * MIB), True),
            SnapshotResult(Latencies(500, 1.5, 3.0), Latencies(600, 2.5, 40.0), 0.125, 0.0625),
            CatchupResult(2.5, 7000, True),
        )
    )
    suite.rows.append(Row("pyetcd", 3, "error: ScaleError: PUT -> 500"))
    text = scale.render(suite, "cmd", "machine")
    assert _cells(text, "etcd") == [
        "etcd", "3", "2,000 (100 · 50)", "50 / 60 / 70", "1.0 / 1.0 / 1.5", "1.25",
        "40 / 41 / 42", "0.125 · 0.062", "1.50 / 3.0", "2.50 / 40.0", "2.50",
    ]  # fmt: skip
    assert _cells(text, "pyetcd")[2] == "error: ScaleError: PUT -> 500"
    assert "`--snapshot-count 1000`" in text


def test_default_snapshot_count_is_a_tenth_of_the_keys_within_bounds() -> None:
    assert scale.default_snapshot_count(1_000_000) == 100_000
    assert scale.default_snapshot_count(50_000) == 5000
    assert scale.default_snapshot_count(2000) == 1000
    assert scale.default_snapshot_count(10_000_000) == 100_000
