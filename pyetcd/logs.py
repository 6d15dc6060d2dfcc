"""etcd 3.4.23's logging: capnslog lines (the default) or zap's JSON lines, at etcd's levels,
to etcd's outputs, with etcd's checks of the logging flags and their messages.

`plan` is the pure decision (etcd's `setupLogging` rules and errors); `setup` opens the outputs
and installs one handler on the root logger. Where etcd 3.4.23 accepts a logging setting and
then ignores it, pyetcd acts on it instead: `--log-output X` alone (etcd keeps the default
output), `--log-package-levels` and `PUT /config/local/log` under `--logger=zap` (etcd applies
them to capnslog only).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from pyetcd import gotime
from pyetcd.flags import ConfigError

NOTICE = 25
TRACE = 5
logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(TRACE, "TRACE")

DEFAULT_OUTPUT = "default"
JOURNAL_OUTPUT = "systemd/journal"
STDERR = "stderr"
STDOUT = "stdout"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

# `--log-level` (logutil.ConvertToZapLevel / ConvertToCapnslogLogLevel): zap's names.
ZAP_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "dpanic": logging.CRITICAL,
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
# capnslog.ParseLevel's spellings (`--log-package-levels`, `PUT /config/local/log`).
_CAPNSLOG_NAMES = {
    "CRITICAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "NOTICE": NOTICE,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": TRACE,
}
_CAPNSLOG_ALIASES = {
    "C": "CRITICAL",
    "0": "ERROR", "E": "ERROR",
    "1": "WARNING", "W": "WARNING",
    "2": "NOTICE", "N": "NOTICE",
    "3": "INFO", "I": "INFO",
    "4": "DEBUG", "D": "DEBUG",
    "5": "TRACE", "T": "TRACE",
}  # fmt: skip
_LETTERS = {
    logging.CRITICAL: "C", logging.ERROR: "E", logging.WARNING: "W", NOTICE: "N",
    logging.INFO: "I", logging.DEBUG: "D", TRACE: "T",
}  # fmt: skip
_ZAP_NAMES = {
    logging.CRITICAL: "fatal", logging.ERROR: "error", logging.WARNING: "warn",
    NOTICE: "info", logging.INFO: "info", logging.DEBUG: "debug", TRACE: "debug",
}  # fmt: skip

# etcd's capnslog package names (`--log-package-levels`) and the pyetcd loggers carrying them.
PACKAGES: dict[str, tuple[str, ...]] = {
    "etcdmain": ("etcdmain",),
    "embed": ("embed",),
    "etcdserver": ("etcdserver",),
    "etcdserver/api/etcdhttp": ("etcdhttp",),
    "etcdserver/api/v2http": ("v2http",),
    "etcdserver/auth": ("v2auth",),
    "pkg/flags": ("pkg/flags",),
    "pkg/transport": ("tls.reload",),
    "raft": ("raft.aio.node",),
    "rafthttp": ("raft.aio.transport",),
    "snap": ("raft.aio.snap",),
    "wal": ("raft.aio.wal",),
}

log = logging.getLogger("embed")
_http_log = logging.getLogger("etcdhttp")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What `setup` installs. `notices` are the raw lines etcd prints on stderr before its
    logger starts; `warnings` are logged once it has; `caller` adds capnslog's `[file:line]`."""

    logger: str
    outputs: tuple[str, ...]
    level: int
    package_levels: tuple[tuple[str, int], ...]
    caller: bool
    notices: tuple[str, ...]
    warnings: tuple[str, ...]


def capnslog_level(text: str) -> str | None:
    """capnslog.ParseLevel: the level's name, or None for a spelling it does not know."""
    name = _CAPNSLOG_ALIASES.get(text, text)
    return name if name in _CAPNSLOG_NAMES else None


def _go_strings(values: Sequence[str]) -> str:
    """Go's `%q` of a `[]string`."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def parse_package_levels(text: str) -> tuple[tuple[str, int], ...]:
    """capnslog's `RepoLogger.ParseLogLevelConfig`; raises ValueError with its message."""
    out: dict[str, int] = {}
    for setting in text.split(","):
        parts = setting.split("=")
        if len(parts) != 2:
            raise ValueError(f"oddly structured `pkg=level` option: {setting}")
        name = capnslog_level(parts[1])
        if name is None:
            raise ValueError(f"couldn't parse log level {parts[1]}")
        out[parts[0]] = _CAPNSLOG_NAMES[name]
    return tuple(out.items())


def plan(
    logger: str,
    log_outputs: tuple[str, ...],
    log_output: tuple[str, ...],
    level: str,
    debug: bool,
    package_levels: str,
) -> LogSettings:
    """etcd's `setupLogging` checks in its order. Raises ConfigError: exit 2 for an unknown
    level (etcd panics), otherwise exit 1 with the reason etcd gives after `error verifying
    flags,`."""
    notices: list[str] = []
    outputs = log_outputs
    if len(log_output) != len(log_outputs):
        if len(log_output) > len(log_outputs):
            notices.append("'--log-output' flag has been deprecated! Please use '--log-outputs'!")
            outputs = log_output
    else:
        if len(log_output) > 1:
            raise ConfigError(
                "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'"
            )
        if log_output == log_outputs and log_output[0] != DEFAULT_OUTPUT:
            raise ConfigError(
                f"'--log-output={_go_strings(log_output)}' and "
                f"'--log-outputs={_go_strings(log_outputs)}' are incompatible; "
                "only set --log-outputs"
            )
        if log_output != (DEFAULT_OUTPUT,):
            notices.append(
                f"[WARNING] Deprecated '--log-output' flag is set to {_go_strings(log_output)}"
            )
            notices.append("Please use '--log-outputs' flag")
            if log_outputs == (DEFAULT_OUTPUT,):
                outputs = log_output
    if debug:
        notices.append(
            "[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead"
        )
        if level != "debug":
            notices.append(
                "[WARNING] Deprecated '--debug' flag is set to true with inconsistent "
                f"'--log-level={level}' flag"
            )
    if logger == "capnslog":
        notices.append(
            "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead"
        )
    if package_levels:
        notices.append(
            f"[WARNING] Deprecated '--log-package-levels={package_levels}' flag is set; "
            "use '--logger=zap' flag instead"
        )
    warnings: list[str] = []
    if debug:
        warnings.append(
            "--debug: etcd also serves Go's /debug/pprof and /debug/requests with it; pyetcd "
            "serves neither (Go runtime profiles have no honest Python equivalent)"
        )
    try:
        packages = parse_package_levels(package_levels) if package_levels else ()
        unparsed = False
    except ValueError as exc:
        warnings.append(f"couldn't parse log level string: {exc}, continuing with default levels")
        packages, unparsed = (), True
    if logger == "capnslog":
        numeric = logging.DEBUG if debug else _zap_level(level)
        if unparsed:  # etcd stops here: the default output, whatever --log-outputs says
            return LogSettings(logger, (DEFAULT_OUTPUT,), numeric, (), False,
                               tuple(notices), tuple(warnings))  # fmt: skip
        if len(outputs) != 1:
            raise ConfigError(
                "--logger=capnslog supports only 1 value in '--log-outputs', "
                f"got {_go_strings(outputs)}"
            )
        if outputs[0] not in (DEFAULT_OUTPUT, STDERR, STDOUT):
            raise ConfigError(
                f'unknown log-output "{outputs[0]}" (only supports "default", "stderr", "stdout")'
            )
        caller = debug and outputs[0] != DEFAULT_OUTPUT
        return LogSettings(logger, outputs, numeric, packages, caller,
                           tuple(notices), tuple(warnings))  # fmt: skip
    if logger != "zap":
        raise ConfigError(f'unknown logger option "{logger}"')
    if len(outputs) > 1 and DEFAULT_OUTPUT in outputs:
        raise ConfigError(f'multi logoutput for "{DEFAULT_OUTPUT}" is not supported yet')
    if JOURNAL_OUTPUT in outputs and len(outputs) > 1:
        raise ConfigError(
            f"running with systemd/journal but other '--log-outputs' values "
            f"({_go_strings(outputs)}) are configured with 'default'; override 'default' value "
            "with something else"
        )
    sinks = tuple(STDERR if o == DEFAULT_OUTPUT else o for o in outputs)
    if "/dev/null" in sinks:
        sinks = ("/dev/null",)
    numeric = _zap_level(level)
    return LogSettings(logger, tuple(sorted(set(sinks))), numeric, packages, False,
                       tuple(notices), tuple(warnings))  # fmt: skip


def _zap_level(level: str) -> int:
    if level not in ZAP_LEVELS:
        raise ConfigError(f'unknown level "{level}"', 2)
    return ZAP_LEVELS[level]


# -- formats -------------------------------------------------------------------------------------


class CapnslogFormatter(logging.Formatter):
    """capnslog's PrettyFormatter: `2026-11-24 03:33:26.343931 I | etcdserver: message`;
    with `caller` (--debug), ` [file.py:123]` after the time."""

    def __init__(self, caller: bool = False) -> None:
        super().__init__()
        self._caller = caller

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S.%f")
        where = f" [{record.filename}:{record.lineno}]" if self._caller else ""
        letter = _nearest(_LETTERS, record.levelno)
        text = f"{stamp}{where} {letter} | {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text.removesuffix("\n")


def _nearest(table: dict[int, str], levelno: int) -> str:
    """The name of the highest known level at or below `levelno` (custom levels fall back)."""
    known = [k for k in table if k <= levelno]
    return table[max(known) if known else min(table)]


_ZAP_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ZAP_SPECIAL = re.compile(r'[\x00-\x1f"\\]|[\ud800-\udfff]')


def _zap_char(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return _ZAP_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def zap_quote(text: str) -> str:
    """zap's JSON string: only `"`, `\\` and control characters escaped; bad UTF-8 as U+FFFD."""
    return '"' + _ZAP_SPECIAL.sub(_zap_char, text) + '"'


def _zap_value(value: object) -> str:
    """A field: numbers and booleans as JSON, anything else as its text."""
    if isinstance(value, bool | int):
        return json.dumps(value)
    return zap_quote(str(value))


def zap_time(created: float) -> str:
    """zapcore.ISO8601TimeEncoder: `2006-01-02T15:04:05.000Z0700` in the local zone."""
    local = datetime.fromtimestamp(created).astimezone()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    return stamp + gotime.zone(local, "")


class ZapFormatter(logging.Formatter):
    """etcd's zap production config: `level`, `ts`, `caller` (dir/file:line), `msg`, then the
    record's `fields`, `error` for an exception, and `stacktrace` (Python's) from error level
    up. A record logged with `extra={"zap": msg, "fields": {...}}` says what etcd's zap call
    says: `msg` replaces the capnslog text and the fields follow it."""

    def format(self, record: logging.LogRecord) -> str:
        parent = os.path.basename(os.path.dirname(record.pathname))
        caller = f"{parent}/{record.filename}" if parent else record.filename
        parts = [
            f'{{"level":"{_nearest(_ZAP_NAMES, record.levelno)}"',
            f'"ts":"{zap_time(record.created)}"',
            f'"caller":{zap_quote(f"{caller}:{record.lineno}")}',
            f'"msg":{zap_quote(getattr(record, "zap", None) or record.getMessage())}',
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts += [f"{zap_quote(str(k))}:{_zap_value(v)}" for k, v in fields.items()]
        stack = ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            parts.append(f'"error":{zap_quote(str(exc) or type(exc).__name__)}')
            stack = "".join(traceback.format_exception(exc)).rstrip("\n")
        elif record.levelno >= logging.ERROR:
            stack = _call_stack()
        if stack:
            parts.append(f'"stacktrace":{zap_quote(stack)}')
        return ",".join(parts) + "}"


def _call_stack() -> str:
    """Where the record was logged from, innermost first, outside logging's own frames."""
    frames = traceback.extract_stack()
    outside = [f for f in frames if f.filename not in (logging.__file__, __file__)]
    return "\n".join(f"{f.name}\n\t{f.filename}:{f.lineno}" for f in reversed(outside))


class ZapSampler(logging.Filter):
    """zap's production sampling (etcd keeps it): per level and message, the first 100 records
    of each second, then every 100th."""

    FIRST = 100
    THEREAFTER = 100
    MAX_KEYS = 4096

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._counts: dict[tuple[int, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = (record.levelno, record.msg)
        until, count = self._counts.get(key, (0.0, 0))
        if now >= until:
            if len(self._counts) >= self.MAX_KEYS:
                self._counts.clear()
            until, count = now + 1.0, 0
        count += 1
        self._counts[key] = (until, count)
        return count <= self.FIRST or (count - self.FIRST) % self.THEREAFTER == 0


# -- outputs -------------------------------------------------------------------------------------


class _Std(io.TextIOBase):
    """sys.stderr or sys.stdout as it is when a line is written (tests replace them)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def write(self, text: str) -> int:
        stream: TextIO = getattr(sys, self._name)
        stream.write(text)
        stream.flush()
        return len(text)


class Journal:
    """journald's native protocol (go-systemd's `journal.Send`): one datagram per entry, an
    entry too big for a datagram passed as a memfd."""

    def __init__(self, path: str | None = None) -> None:
        path = path or JOURNAL_SOCKET
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.connect(path)
        except OSError as exc:
            self._sock.close()
            reason = _go_error(exc)
            raise ConfigError(
                f"can't find journal (dial unixgram {path}: connect: {reason})"
            ) from None

    def send(self, message: str, priority: int, package: str) -> None:
        """Raises OSError when journald does not take the entry."""
        fields = {
            "PRIORITY": str(priority),
            "MESSAGE": message,
            "PACKAGE": package,
            "SYSLOG_IDENTIFIER": os.path.basename(sys.argv[0]),
        }
        data = b"".join(_journal_field(k, v) for k, v in fields.items())
        try:
            self._sock.send(data)
        except OSError as exc:
            if exc.errno not in (90, 105):  # EMSGSIZE, ENOBUFS: pass the entry as a file
                raise
            fd = os.memfd_create("journal-entry")
            try:
                os.write(fd, data)
                socket.send_fds(self._sock, [b""], [fd])
            finally:
                os.close(fd)

    def close(self) -> None:
        self._sock.close()


class JournalSink(io.TextIOBase):
    """etcd's zap `systemd/journal` output: each line with its priority and PACKAGE (the
    caller's directory); stderr if journald refuses it."""

    _PRIORITIES = {
        "debug": 7, "info": 6, "warn": 4, "error": 3, "dpanic": 2, "panic": 2, "fatal": 2,
    }  # fmt: skip

    def __init__(self, path: str | None = None) -> None:
        self._journal = Journal(path)

    def write(self, text: str) -> int:
        line = json.loads(text)
        priority = self._PRIORITIES.get(line.get("level"), 6)
        try:
            self._journal.send(text, priority, os.path.dirname(line.get("caller", "")) or ".")
        except OSError:
            _Std(STDERR).write(text)
        return len(text)

    def close(self) -> None:
        self._journal.close()
        super().close()


class JournaldHandler(logging.Handler):
    """capnslog's journald formatter, its `default` output under systemd (parent pid 1 and a
    journal to talk to): the bare message, its priority, the package; a failure on stderr."""

    _PRIORITIES = {
        logging.CRITICAL: "2", logging.ERROR: "3", logging.WARNING: "4", NOTICE: "5",
        logging.INFO: "6", logging.DEBUG: "7", TRACE: "7",
    }  # fmt: skip

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            priority = int(_nearest(self._PRIORITIES, record.levelno))
            self.journal.send(message, priority, record.name)
        except OSError as exc:
            print(exc, file=sys.stderr)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.journal.close()
        super().close()


def _systemd_journal() -> Journal | None:
    """A journal to log to when systemd started us (capnslog's NewDefaultFormatter test)."""
    if os.getppid() != 1:
        return None
    try:
        return Journal()
    except ConfigError:
        return None


def _journal_field(name: str, value: str) -> bytes:
    raw = value.encode("utf-8", "replace")
    if b"\n" in raw:
        return name.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
    return name.encode() + b"=" + raw + b"\n"


def _go_error(exc: OSError) -> str:
    """Go's errno text: lower case."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def open_sink(output: str) -> io.TextIOBase:
    """zap's sinks: stderr, stdout, a path or file:// URL (opened for append), the journal."""
    if output in (STDERR, STDOUT):
        return _Std(output)
    if output == DEFAULT_OUTPUT:
        return _Std(STDERR)
    if output == JOURNAL_OUTPUT:
        return JournalSink()
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", output)
    path = output
    if scheme is not None:
        if scheme.group(1).lower() != "file":
            raise ConfigError(
                f'open sink "{output}": no sink found for scheme "{scheme.group(1).lower()}"'
            )
        path = re.sub(r"^file://(localhost)?", "", output, flags=re.IGNORECASE)
        path = path.removeprefix("file:")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f'open sink "{output}": open {path}: {_go_error(exc)}') from None
    return open(fd, "a", encoding="utf-8", errors="replace", buffering=1)


class SinkHandler(logging.Handler):
    """Formats a record once and writes the line to every sink, each flushed."""

    def __init__(self, sinks: Sequence[io.TextIOBase]) -> None:
        super().__init__()
        self.sinks = list(sinks)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            for sink in self.sinks:
                sink.write(line)
                sink.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        for sink in self.sinks:
            if not isinstance(sink, _Std):
                sink.close()
        super().close()


_state = threading.Lock()


def setup(settings: LogSettings, quiet: bool = False) -> logging.Handler:
    """Print etcd's pre-logging notices, open the outputs (ConfigError as etcd words a failure)
    and make the root logger write through them at the planned levels. `quiet`: neither the
    notices nor the warnings (to report a flag error on one line)."""
    for notice in () if quiet else settings.notices:
        print(notice, file=sys.stderr)
    handler: logging.Handler
    if settings.logger == "zap":
        sinks = (
            [] if settings.outputs == ("/dev/null",) else [open_sink(o) for o in settings.outputs]
        )
        handler = SinkHandler(sinks)
        handler.setFormatter(ZapFormatter())
        handler.addFilter(ZapSampler())
    elif settings.outputs == (DEFAULT_OUTPUT,) and (journal := _systemd_journal()) is not None:
        handler = JournaldHandler(journal)
    else:
        handler = SinkHandler([open_sink(settings.outputs[0])])
        handler.setFormatter(CapnslogFormatter(settings.caller))
    root = logging.getLogger()
    with _state:
        for old in root.handlers:
            if isinstance(old, SinkHandler | JournaldHandler):
                old.close()
        root.handlers[:] = [handler]
        _set_levels(settings.level, settings.package_levels)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if quiet:
        return handler
    for warning in settings.warnings:
        log.warning("%s", warning)
    unknown = [name for name, _ in settings.package_levels if name != "*" and name not in PACKAGES]
    if unknown:
        log.warning(
            "--log-package-levels: no package %s in pyetcd (known: %s)",
            ", ".join(unknown),
            ", ".join(sorted(PACKAGES)),
        )
    return handler


def is_set_up() -> bool:
    """Whether `setup` has installed its handler on the root logger."""
    return any(isinstance(h, SinkHandler | JournaldHandler) for h in logging.getLogger().handlers)


def _set_levels(level: int, packages: Sequence[tuple[str, int]]) -> None:
    """capnslog's SetGlobalLogLevel then SetLogLevel: `*` is every package."""
    levels = dict(packages)
    level = levels.get("*", level)
    logging.getLogger().setLevel(level)
    for package, loggers in PACKAGES.items():
        for name in loggers:
            logging.getLogger(name).setLevel(levels.get(package, logging.NOTSET))


def set_global_level(name: str) -> str | None:
    """`PUT /config/local/log`: capnslog's name for `name` (already upper case) once every
    logger is at that level, or None if capnslog does not know it (nothing changes). Logged
    as etcd does, at notice level, before the change."""
    level = capnslog_level(name)
    if level is None:
        return None
    _http_log.log(NOTICE, 'globalLogLevel set to "%s"', level)
    with _state:
        _set_levels(_CAPNSLOG_NAMES[level], ())
    return level
