"""Logging: etcd 3.4.23's capnslog and zap formats, outputs, levels and their startup checks.

Expected texts are what real etcd printed for the same flags (captured from /usr/bin/etcd);
the process tests run real etcd and pyetcd side by side and compare their zap lines' shape.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyetcd import logs
from pyetcd.applier import Applier
from pyetcd.entry import encode_entry
from pyetcd.flags import ConfigError
from pyetcd.wait import Waiters
from store.commands import Set
from store.store import Store
from tests import procs

ZAP_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4})$")
CAPNSLOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} [CEWNIDT] \| [\w/.]+: ")
needs_etcd = pytest.mark.skipif(
    shutil.which("etcd") is None, reason="NOT RUN: etcd 3.4.23 binary not found on PATH"
)


def _plan(
    logger: str = "capnslog",
    outputs: tuple[str, ...] = ("default",),
    output: tuple[str, ...] = ("default",),
    level: str = "info",
    debug: bool = False,
    packages: str = "",
) -> logs.LogSettings:
    return logs.plan(logger, outputs, output, level, debug, packages)


def _record(level: int, msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "etcdserver", level, "/src/pyetcd/server.py", 42, msg, args or None, None
    )
    record.__dict__.update(extra)
    return record


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`setup` replaces the root logger's handlers and levels: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    packages = {n: logging.getLogger(n).level for names in logs.PACKAGES.values() for n in names}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in packages.items():
        logging.getLogger(name).setLevel(old)


# -- plan: etcd's rules ---------------------------------------------------------------------------


def test_defaults_are_capnslog_on_stderr_at_info() -> None:
    settings = _plan()
    assert (settings.logger, settings.outputs, settings.level) == ("capnslog", ("default",), 20)
    assert settings.notices == (
        "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead",
    )
    assert not settings.caller and settings.warnings == ()


def test_debug_overrides_the_level_under_capnslog_only() -> None:
    capnslog = _plan(level="warn", debug=True, outputs=("stderr",))
    assert capnslog.level == logging.DEBUG and capnslog.caller
    assert capnslog.notices[:2] == (
        "[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead",
        "[WARNING] Deprecated '--debug' flag is set to true with inconsistent "
        "'--log-level=warn' flag",
    )
    assert "/debug/pprof" in capnslog.warnings[0]
    assert not _plan(debug=True).caller  # the default output keeps capnslog's plain format
    assert _plan("zap", level="warn", debug=True).level == logging.WARNING


def test_zap_outputs_are_merged_and_sorted() -> None:
    assert _plan("zap").outputs == ("stderr",)
    assert _plan("zap", outputs=("stdout", "/tmp/b.log")).outputs == ("/tmp/b.log", "stdout")
    assert _plan("zap", outputs=("/dev/null", "stderr")).outputs == ("/dev/null",)


def test_old_output_flag_is_honoured_alone() -> None:
    settings = _plan(output=("stdout",))
    assert settings.outputs == ("stdout",)
    assert settings.notices[:2] == (
        "[WARNING] Deprecated '--log-output' flag is set to [\"stdout\"]",
        "Please use '--log-outputs' flag",
    )
    assert _plan(output=("stdout",), outputs=("stderr",)).outputs == ("stderr",)
    several = _plan("zap", output=("stderr", "stdout"))
    assert several.outputs == ("stderr", "stdout")
    assert (
        several.notices[0] == "'--log-output' flag has been deprecated! Please use '--log-outputs'!"
    )


def test_unknown_level_is_etcds_panic_message_with_exit_2() -> None:
    for logger in ("capnslog", "zap"):
        with pytest.raises(ConfigError) as caught:
            _plan(logger, level="foo")
        assert (caught.value.message, caught.value.exit_code) == ('unknown level "foo"', 2)
    assert _plan(level="foo", debug=True).level == logging.DEBUG  # etcd never converts it
    assert _plan("zap", level="dpanic").level == logging.CRITICAL


def test_package_levels_parse_as_capnslog_does() -> None:
    settings = _plan(packages="etcdserver=WARNING,etcdmain=D,*=3")
    assert settings.package_levels == (
        ("etcdserver", logging.WARNING), ("etcdmain", logging.DEBUG), ("*", logging.INFO),
    )  # fmt: skip
    assert settings.notices[-1] == (
        "[WARNING] Deprecated '--log-package-levels=etcdserver=WARNING,etcdmain=D,*=3' flag is "
        "set; use '--logger=zap' flag instead"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("etcdserver", "oddly structured `pkg=level` option: etcdserver"),
        ("a=b=c", "oddly structured `pkg=level` option: a=b=c"),
        ("etcdserver=debug", "couldn't parse log level debug"),
    ],
)
def test_bad_package_levels_warn_and_keep_the_default_output(text: str, reason: str) -> None:
    """etcd returns from its setup here: two outputs are not even refused."""
    settings = _plan(packages=text, outputs=("stderr", "stdout"))
    assert settings.warnings == (
        f"couldn't parse log level string: {reason}, continuing with default levels",
    )
    assert (settings.outputs, settings.package_levels) == (("default",), ())


# -- formats ---------------------------------------------------------------------------------------


def test_capnslog_line() -> None:
    line = logs.CapnslogFormatter().format(_record(logs.NOTICE, "set to %s", "x"))
    assert CAPNSLOG_LINE.match(line) and line.endswith(" N | etcdserver: set to x")
    traced = logs.CapnslogFormatter(caller=True).format(_record(logging.DEBUG, "m"))
    assert re.search(r"\.\d{6} \[server\.py:42\] D \| etcdserver: m$", traced)
    letters = [
        logs.CapnslogFormatter().format(_record(level, "m")).split(" ")[2]
        for level in (50, 40, 30, 25, 20, 10, 5, 35)
    ]
    assert letters == ["C", "E", "W", "N", "I", "D", "T", "W"]


def test_zap_line_keys_order_and_escaping() -> None:
    record = _record(
        logging.INFO, 'say "%s"', "hi\x08<&>\u00e9", fields={"took": "1ms", "n": 3, "ok": True}
    )
    line = logs.ZapFormatter().format(record)
    assert line.startswith('{"level":"info","ts":"')
    parsed = json.loads(line)
    assert list(parsed) == ["level", "ts", "caller", "msg", "took", "n", "ok"]
    assert (parsed["took"], parsed["n"], parsed["ok"]) == ("1ms", 3, True)
    assert ZAP_TS.match(parsed["ts"]) and parsed["caller"] == "pyetcd/server.py:42"
    assert '"msg":"say \\"hi\\u0008<&>\u00e9\\""' in line  # zap escapes less than Go's json
    named = logs.ZapFormatter().format(_record(logging.WARNING, "capnslog text", zap="zap msg"))
    assert json.loads(named)["msg"] == "zap msg"


def test_zap_errors_carry_a_python_stacktrace() -> None:
    parsed = json.loads(logs.ZapFormatter().format(_record(logging.ERROR, "failed")))
    assert list(parsed) == ["level", "ts", "caller", "msg", "stacktrace"]
    assert "test_zap_errors_carry_a_python_stacktrace" in parsed["stacktrace"]
    try:
        raise OSError("disk on fire")
    except OSError:
        record = _record(logging.ERROR, "write failed")
        record.exc_info = sys.exc_info()
    parsed = json.loads(logs.ZapFormatter().format(record))
    assert parsed["error"] == "disk on fire" and "OSError: disk on fire" in parsed["stacktrace"]
    assert json.loads(logs.ZapFormatter().format(_record(50, "x")))["level"] == "fatal"


def test_zap_sampling_is_zaps_production_sampling() -> None:
    now = [0.0]
    sampler = logs.ZapSampler(clock=lambda: now[0])
    kept = sum(sampler.filter(_record(logging.INFO, "same")) for _ in range(350))
    assert kept == 100 + 2  # the first 100, then the 200th and the 300th
    assert sampler.filter(_record(logging.WARNING, "same"))  # another level, another count
    now[0] = 1.5
    assert sampler.filter(_record(logging.INFO, "same"))


# -- outputs and levels ----------------------------------------------------------------------------


def test_zap_to_a_file_and_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    path = tmp_path / "etcd.log"
    logs.setup(_plan("zap", outputs=(str(path), "stdout")))
    logging.getLogger("etcdserver").info("hello %d", 1)
    line = path.read_text().splitlines()[-1]
    assert json.loads(line)["msg"] == "hello 1"
    out = capsys.readouterr()
    assert line in out.out.splitlines() and "hello" not in out.err
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("/nonexistent/x.log",
         'open sink "/nonexistent/x.log": open /nonexistent/x.log: no such file or directory'),
        ("ftp://x/y", 'open sink "ftp://x/y": no sink found for scheme "ftp"'),
    ],
)  # fmt: skip
def test_zap_outputs_fail_in_etcds_words(output: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        logs.open_sink(output)
    assert caught.value.message == message


def test_file_urls_are_files(tmp_path: Path) -> None:
    sink = logs.open_sink(f"file://{tmp_path}/a.log")
    sink.write("x\n")
    sink.close()
    assert (tmp_path / "a.log").read_text() == "x\n"


def test_journal_gets_etcds_fields(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.socket")
    with pytest.raises(ConfigError) as caught:
        logs.JournalSink(path)
    assert caught.value.message == (
        f"can't find journal (dial unixgram {path}: connect: no such file or directory)"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journald:
        journald.bind(path)
        journald.settimeout(5)
        sink = logs.JournalSink(path)
        line = logs.ZapFormatter().format(_record(logging.WARNING, "slow")) + "\n"
        sink.write(line)
        sink.close()
        datagram = journald.recv(65536)
    fields = _journal_fields(datagram)
    assert fields["PRIORITY"] == "4" and fields["MESSAGE"] == line
    assert fields["PACKAGE"] == "pyetcd" and fields["SYSLOG_IDENTIFIER"]


def test_capnslog_default_output_under_systemd_is_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root_logging: None
) -> None:
    """capnslog's default formatter: journald when systemd (pid 1) started the process and
    a journal answers; the bare message, its priority and package."""
    path = str(tmp_path / "journal.socket")
    monkeypatch.setattr(logs, "JOURNAL_SOCKET", path)
    monkeypatch.setattr(os, "getppid", lambda: 1)
    assert isinstance(logs.setup(_plan(), quiet=True), logs.SinkHandler)  # no journal: stderr
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journald:
        journald.bind(path)
        journald.settimeout(5)
        assert isinstance(logs.setup(_plan(), quiet=True), logs.JournaldHandler)
        logging.getLogger("etcdhttp").log(logs.NOTICE, "set to %s", "x")
        fields = _journal_fields(journald.recv(65536))
        assert isinstance(logs.setup(_plan(outputs=("stderr",)), quiet=True), logs.SinkHandler)
    assert (fields["MESSAGE"], fields["PRIORITY"], fields["PACKAGE"]) == (
        "set to x",
        "5",
        "etcdhttp",
    )


def _journal_fields(data: bytes) -> dict[str, str]:
    """journald's native protocol: NAME=value lines, or NAME, 64-bit length, bytes, newline."""
    fields: dict[str, str] = {}
    while data:
        head, _, rest = data.partition(b"\n")
        if b"=" in head:
            name, _, value = head.partition(b"=")
            fields[name.decode()] = value.decode()
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            fields[head.decode()] = rest[8 : 8 + size].decode()
            data = rest[9 + size :]
    return fields


def test_package_levels_reach_pyetcds_loggers(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    logs.setup(_plan(packages="etcdserver=ERROR,rafthttp=DEBUG,nosuch=INFO"))
    assert logging.getLogger("etcdserver").level == logging.ERROR
    assert logging.getLogger("raft.aio.transport").level == logging.DEBUG
    assert logging.getLogger().level == logging.INFO
    assert "no package nosuch in pyetcd" in capsys.readouterr().err
    assert logs.set_global_level("W") == "WARNING"
    assert logging.getLogger("etcdserver").level == logging.NOTSET
    assert logging.getLogger().level == logging.WARNING
    assert logs.set_global_level("LOUD") is None
    assert logging.getLogger().level == logging.WARNING


def test_slow_apply_warns_as_etcd(caplog: pytest.LogCaptureFixture) -> None:
    applier = Applier(Store(), Waiters(1, 0), warn_after=0.0)
    with caplog.at_level(logging.WARNING, logger="etcdserver"):
        applier.apply_entry(1, encode_entry(7, Set("/a", "1", False, None, False, 0)))
    assert applier.slow_applies == 1
    (record,) = caplog.records
    assert re.fullmatch(
        r'request "id:7,method:Set,path:/a" with result "" took too long \(\S+\) to execute',
        record.getMessage(),
    )
    parsed = json.loads(logs.ZapFormatter().format(record))
    assert parsed["msg"] == "apply request took too long"
    assert list(parsed)[4:] == ["took", "expected-duration", "prefix", "request", "response"]
    assert Applier(Store(), Waiters(1, 0)).warn_after == 0.1


# -- real processes --------------------------------------------------------------------------------


def _zap_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@needs_etcd
def test_zap_lines_have_etcds_shape() -> None:
    args = (*procs.FAST_TIMING, "--enable-v2", "--logger", "zap")
    with procs.running_member("etcd", extra_args=args) as etcd:
        theirs = _zap_lines(etcd.log_tail(200_000))
    with procs.running_member("pyetcd", extra_args=args) as pyetcd:
        ours = _zap_lines(pyetcd.log_tail(200_000))
        assert all(line.startswith("{") for line in pyetcd.log_tail(200_000).splitlines())
    assert theirs and ours
    for lines in (theirs, ours):
        for line in lines:
            assert list(line)[:4] == ["level", "ts", "caller", "msg"]
            assert ZAP_TS.match(str(line["ts"]))
            assert re.fullmatch(r"[\w.-]+/[\w.-]+:\d+", str(line["caller"]))
            assert line["level"] in ("debug", "info", "warn", "error", "fatal")


@needs_etcd
@pytest.mark.parametrize(
    "flags",
    [
        ("--log-outputs", "stderr,stdout"),
        ("--logger", "zap", "--log-outputs", "default,stderr"),
        ("--log-outputs", "/tmp/x.log"),
        ("--logger", "foo"),
        ("--log-output", "stderr", "--log-outputs", "stderr"),
        ("--log-output", "stdout,stderr", "--log-outputs", "stderr,stdout"),
        ("--logger", "zap", "--log-outputs", "systemd/journal,stderr"),
    ],
)
def test_refusals_match_etcd(flags: tuple[str, ...], tmp_path: Path) -> None:
    """The last line of each is etcd's, word for word (pyetcd names itself in the hint)."""
    results = []
    for impl in ("etcd", "pyetcd"):
        argv = [*procs.command(impl), "--data-dir", str(tmp_path / impl), *flags]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        last = done.stderr.strip().splitlines()[-1]
        results.append((done.returncode, last.split(" | ", 1)[1].replace("'etcd --help'", "")))
        assert not (tmp_path / impl).exists()
    assert results[0] == (1, results[0][1]) and results[1][0] == 1
    assert results[1][1].replace("'pyetcd --help'", "") == results[0][1]


@needs_etcd
def test_flag_errors_go_through_the_configured_logger(tmp_path: Path) -> None:
    """Once the logging flags are understood, etcd reports a bad flag through them: a zap line
    ("failed to verify flags"), or capnslog's line on the chosen output."""
    zap: list[dict[str, object]] = []
    for impl in ("etcd", "pyetcd"):
        argv = [*procs.command(impl), "--data-dir", str(tmp_path / impl)]
        done = subprocess.run(
            [*argv, "--logger", "zap", "--heartbeat-interval", "0"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1
        (line,) = done.stderr.splitlines()
        zap.append(json.loads(line))
        done = subprocess.run(
            [*argv, "--log-outputs", "stdout", "--heartbeat-interval", "0"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1
        assert "--heartbeat-interval must be >0 (set to 0ms)" in done.stdout
        assert CAPNSLOG_LINE.match(done.stdout)
    theirs, ours = zap
    assert [list(line) for line in zap] == [["level", "ts", "caller", "msg", "error"]] * 2
    assert (ours["level"], ours["msg"], ours["error"]) == (
        theirs["level"], theirs["msg"], theirs["error"],
    )  # fmt: skip
