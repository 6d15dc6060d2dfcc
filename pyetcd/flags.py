"""Go `flag`-package command lines and etcd's `ETCD_*` environment, with etcd's messages.

`-flag` and `--flag` are the same; values come as `--flag value` or `--flag=value`; a boolean
flag takes a value only after `=`; a repeated flag keeps its last value; parsing stops at `--`
or at the first argument that is not a flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyetcd.urls import URLError, parse_url_list

ENV_PREFIX = "ETCD"


class ConfigError(Exception):
    """A one-line startup error; `exit_code` is etcd's (2 for command-line syntax, else 1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class HelpRequested(Exception):
    """`-h`, `-help` or `--help` was given."""


class ValueRejected(ValueError):
    """A flag value its type does not accept; `str()` is the reason etcd prints."""


Parser = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    parse: Parser
    default: str
    usage: str
    section: str
    is_bool: bool = False
    shown_default: str | None = None


def env_name(flag: str) -> str:
    return f"{ENV_PREFIX}_{flag.upper().replace('-', '_')}"


# -- value types (each raises ValueRejected with Go's reason) -----------------------------------

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(text: str) -> bool:
    """Go's `strconv.ParseBool`."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueRejected("parse error")


def _go_int(text: str) -> int:
    """`strconv.ParseInt(text, 0, 64)`: decimal, `0x`, `0o`, `0b` or a leading-0 octal."""
    body = text.lstrip("+-")
    if not body or "_" in body:
        raise ValueRejected("parse error")
    try:
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            value = int(body, 8)
        else:
            value = int(body, 0)
    except ValueError:
        raise ValueRejected("parse error") from None
    return -value if text.startswith("-") else value


def parse_int(text: str) -> int:
    value = _go_int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueRejected("value out of range")
    return value


def parse_uint(text: str) -> int:
    if text.startswith(("-", "+")):
        raise ValueRejected("parse error")
    value = _go_int(text)
    if value >= 2**64:
        raise ValueRejected("value out of range")
    return value


def parse_uint32(text: str) -> int:
    """etcd's own uint32 flag type, which reports strconv's wording."""
    try:
        value = parse_uint(text)
    except ValueRejected:
        raise ValueRejected(f'strconv.ParseUint: parsing "{text}": invalid syntax') from None
    if value >= 2**32:
        raise ValueRejected(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go's `time.ParseDuration` (`1h2m0.5s`, `100ms`, `0`), in seconds; etcd's empty default
    is zero."""
    if text in ("", "0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueRejected("parse error")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueRejected("parse error")
    return sign * total


def parse_str(text: str) -> str:
    return text


def parse_urls(text: str) -> tuple[str, ...]:
    try:
        return parse_url_list(text)
    except URLError as exc:
        raise ValueRejected(str(exc)) from None


def parse_optional_urls(text: str) -> tuple[str, ...]:
    """URL flags whose default is no URL at all."""
    return parse_urls(text) if text else ()


def parse_unique_strings(text: str) -> tuple[str, ...]:
    """etcd's comma-separated set flags (`--cors`, `--host-whitelist`): de-duplicated, sorted."""
    return tuple(sorted(set(text.split(","))))


def choice(*options: str) -> Parser:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueRejected("invalid value")
        return text

    return parse


# -- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parsed:
    """Every flag's value, which flags were set (and how), and warnings to log at startup."""

    values: Mapping[str, object]
    from_command_line: frozenset[str]
    from_env: frozenset[str]
    warnings: tuple[str, ...]
    from_file: frozenset[str] = frozenset()

    def is_set(self, name: str) -> bool:
        return name in self.from_command_line or name in self.from_env

    def text(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str), name
        return value

    def number(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int), name
        return value

    def switch(self, name: str) -> bool:
        value = self.values[name]
        assert isinstance(value, bool), name
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.values[name]
        assert isinstance(value, tuple), name
        return value


def parse_command_line(flags: Sequence[Flag], argv: Sequence[str]) -> dict[str, object]:
    """Go's `FlagSet.Parse` with etcd's handling of leftover arguments; raises ConfigError
    (exit 2 for syntax, exit 1 for leftovers) or HelpRequested."""
    by_name = {f.name: f for f in flags}
    values: dict[str, object] = {}
    args = list(argv)
    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break
        dashes = 2 if arg[1] == "-" else 1
        if arg == "--":
            args.pop(0)
            break
        name = arg[dashes:]
        if not name or name[0] in "-=":
            raise ConfigError(f"bad flag syntax: {arg}", 2)
        args.pop(0)
        name, has_value, value = name.partition("=")
        flag = by_name.get(name)
        if flag is None:
            if name in ("h", "help"):
                raise HelpRequested
            raise ConfigError(f"flag provided but not defined: -{name}", 2)
        if flag.is_bool:
            try:
                values[name] = flag.parse(value if has_value else "true")
            except ValueRejected as exc:
                raise ConfigError(
                    f'invalid boolean value "{value}" for -{name}: {exc}', 2
                ) from None
            continue
        if not has_value:
            if not args:
                raise ConfigError(f"flag needs an argument: -{name}", 2)
            value = args.pop(0)
        try:
            values[name] = flag.parse(value)
        except ValueRejected as exc:
            raise ConfigError(f'invalid value "{value}" for flag -{name}: {exc}', 2) from None
    if args:
        raise ConfigError(f"'{args[0]}' is not a valid flag")
    return values


def apply_environment(
    flags: Sequence[Flag], given: dict[str, object], environ: Mapping[str, str]
) -> Parsed:
    """Fill unset flags from `ETCD_*`; a variable shadowed by a command-line flag is fatal, and
    a variable matching no flag is a warning (etcd's e2e harness sets `ETCD_UNSUPPORTED_ARCH`)."""
    by_env = {env_name(f.name): f for f in flags}
    values: dict[str, object] = dict(given)
    from_env: set[str] = set()
    warnings: list[str] = []
    for key, text in sorted(environ.items()):
        flag = by_env.get(key)
        if flag is not None and flag.name in given:
            raise ConfigError(
                f'conflicting environment variable "{key}" is shadowed by corresponding '
                "command-line flag (either unset environment variable or disable flag)"
            )
        if flag is None or text == "":
            if key.startswith(ENV_PREFIX + "_"):
                warnings.append(f"unrecognized environment variable {key}={text}")
            continue
        try:
            values[flag.name] = flag.parse(text)
        except ValueRejected as exc:
            raise ConfigError(f'invalid value "{text}" for {key}: {exc}') from None
        from_env.add(flag.name)
    for flag in flags:
        if flag.name not in values:
            values[flag.name] = flag.parse(flag.default)
    return Parsed(values, frozenset(given), frozenset(from_env), tuple(warnings))
