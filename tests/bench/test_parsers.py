"""The pure parts of the bench code: wrk result line, HTTP response reader, CPU, table."""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from bench import api
from bench.harness import cpu_seconds
from bench.load import LoadError, LoadResult, parse_wrk
from bench.profile import FrameShare, ProfileError, summarise
from bench.watch_fanout import FanoutResult, ProtocolError, Response, parse_response


def test_parse_wrk_reads_the_bench_line_among_wrk_output() -> None:
    out = (
        "Running 1s test @ http://127.0.0.1:1234\n  2 threads and 16 connections\n"
        "BENCH requests=4200 duration_us=1000500 p50_us=95.0 p99_us=2501.5 errors=3\n"
    )
    assert parse_wrk(out) == {
        "requests": 4200,
        "duration_us": 1000500,
        "p50_us": 95.0,
        "p99_us": 2501.5,
        "errors": 3,
    }


def test_parse_wrk_without_result_line_is_a_clear_error() -> None:
    with pytest.raises(LoadError, match="no BENCH line"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_content_length_response_waits_for_the_whole_body() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Etcd-Index: 5\r\n\r\n{"a":"bcd"}'
    assert parse_response(raw[:-1]) is None
    assert parse_response(raw) == (Response(200, b'{"a":"bcd"}'), len(raw))


def test_chunked_watch_response_arriving_in_pieces() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b'6\r\n{"a":1\r\n2\r\n}\n\r\n0\r\n\r\n'
    assert parse_response(head) is None
    assert parse_response(head + body[:9]) is None
    assert parse_response(head + body[:-2]) is None
    assert parse_response(head + body) == (Response(200, b'{"a":1}\n'), len(head + body))


@pytest.mark.parametrize(
    "raw",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    ],
)
def test_malformed_responses_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_response(raw)


def test_cpu_seconds_counts_this_process() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert cpu_seconds(os.getpid()) - before >= 0.02


def test_fanout_rounds_alternate_in_blocks_and_add_up() -> None:
    assert api.fanout_blocks(20) == [5, 5, 5, 5]
    assert api.fanout_blocks(7) == [5, 2]
    assert api.fanout_blocks(3) == [3]
    total = FanoutResult(10, (1.0, 5.0), 0.5, 0.25).plus(FanoutResult(10, (3.0,), 0.25, 0.5))
    assert total == FanoutResult(10, (1.0, 5.0, 3.0), 0.75, 0.75)
    assert total.median_ms == 3.0
    assert total.server_cpu_ms_per_round == 250.0


def test_load_cells_alternate_in_blocks_of_whole_seconds_and_add_up() -> None:
    assert api.load_blocks(10) == [2.0] * 5
    assert api.load_blocks(2) == [1.0, 1.0]
    assert api.load_blocks(1) == [1.0]
    assert api.load_blocks(30) == [6.0] * 5
    a = LoadResult(300, 2.0, 1.0, 4.0, 1, 0.6, 0.1, (0.4, 0.2))
    b = LoadResult(100, 2.0, 2.0, 8.0, 0, 0.25, 0.125, (0.125, 0.125))
    total = a.plus(b)
    # Percentiles are averaged with the requests as weights; everything else adds up.
    assert total == LoadResult(400, 4.0, 1.25, 5.0, 1, 0.85, 0.225, (0.525, 0.325))
    assert total.rps == 100.0


def _load(rps: int) -> LoadResult:
    return LoadResult(rps, 1.0, 0.1, 1.0, 0, 0.5, 0.2)


def test_render_reports_ratios_and_targets() -> None:
    suite = api.Suite(["etcd", "pyetcd"], duration=1.0, rounds=3)
    get16, fan = api.Cell(api.GET, 16), api.Cell(api.FANOUT, 1000)
    suite.results[(get16, "etcd")] = _load(10_000)
    suite.results[(get16, "pyetcd")] = _load(4_000)
    suite.results[(fan, "etcd")] = FanoutResult(1000, (10.0, 20.0, 30.0), 0.3, 0.1)
    suite.results[(fan, "pyetcd")] = FanoutResult(1000, (25.0, 26.0, 27.0), 0.3, 0.1)
    text = api.render(suite, "python -m bench api", "test machine")
    assert "| GET (local) | 16 | 10,000 · 0.10 / 1.0 | 0.50 · 50 µs (wrk 0.20) |" in text
    assert "| 0.40 | >= 0.5x MISSED |" in text
    assert "| 1000 | 20.00 | 100.0 / 33.3 | 26.00 | 100.0 / 33.3 | 1.30 | <= 1.5x met |" in text


def test_render_shows_failed_cells_without_ratio() -> None:
    suite = api.Suite(["etcd", "pyetcd"], duration=1.0, rounds=3)
    cell = api.Cell(api.PUT, 1)
    suite.results[(cell, "etcd")] = _load(100)
    suite.results[(cell, "pyetcd")] = "server exited"
    suite.notes.append("pyetcd idle CPU: 0.010 core")
    text = api.render(suite, "cmd", "m")
    assert "| server exited |  | — |  |" in text
    assert "- pyetcd idle CPU: 0.010 core" in text


def test_profile_summary_ranks_self_and_total_time() -> None:
    collapsed = (
        "run (loop.py);handle (api.py);encode (json.py) 6\n"
        "run (loop.py);handle (api.py) 2\n"
        "run (loop.py);walk (tree.py);walk (tree.py) 2\n"
        "run (loop.py);uv__io_poll (linux.c);epoll_pwait (libc.so.6) 30\n"
        "garbage line\n"
    )
    samples, by_self, by_total = summarise(collapsed, limit=2)
    assert samples == 10
    assert by_self == [
        FrameShare("encode (json.py)", 60.0, 60.0),
        FrameShare("handle (api.py)", 20.0, 80.0),
    ]
    assert by_total[0] == FrameShare("run (loop.py)", 0.0, 100.0)
    assert by_total[1] == FrameShare("handle (api.py)", 20.0, 80.0)


def test_profile_summary_without_samples_is_an_error() -> None:
    with pytest.raises(ProfileError):
        summarise("")


class _Target:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self._log = log

    def stop(self) -> None:
        self._log.append(f"stopped {self.name}")


def test_start_targets_keeps_what_started_and_notes_why_the_rest_did_not() -> None:
    """One implementation that does not start and one whose preload fails are left out with
    a note each; every target that started is stopped with the stack, used or not."""
    log: list[str] = []
    notes: list[str] = []

    def start(impl: str) -> _Target:
        if impl == "broken":
            raise RuntimeError("boot log\nport in use\n")
        return _Target(impl, log)

    def prepare(target: _Target) -> None:
        if target.name == "slow":
            raise OSError("preload timed out")

    with contextlib.ExitStack() as stack:
        targets = api.start_targets(
            ["etcd", "broken", "slow"], stack, notes, start, prepare, RuntimeError, "cluster "
        )
        assert list(targets) == ["etcd"]
        assert log == []
    assert notes == [
        "broken cluster did not start: port in use",
        "slow preload failed: OSError('preload timed out')",
    ]
    assert sorted(log) == ["stopped etcd", "stopped slow"]
