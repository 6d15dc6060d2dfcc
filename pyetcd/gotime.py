"""Go's renderings of instants and durations, which `/v2/stats/self` exposes verbatim."""

from __future__ import annotations

from datetime import datetime

_NS_PER_S = 1_000_000_000


def _trim_fraction(value: int, digits: int) -> str:
    """`.123` for 123000000 of 9 digits; empty when the fraction is zero (Go trims zeros)."""
    text = f"{value:0{digits}d}".rstrip("0")
    return f".{text}" if text else ""


def rfc3339nano(unix_ns: int) -> str:
    """`time.RFC3339Nano` in the local zone: `2026-11-24T03:33:26.346372935Z` or `...+01:00`."""
    seconds, nanos = divmod(unix_ns, _NS_PER_S)
    local = datetime.fromtimestamp(seconds).astimezone()
    return local.strftime("%Y-%m-%dT%H:%M:%S") + _trim_fraction(nanos, 9) + zone(local, ":")


def zone(local: datetime, separator: str) -> str:
    """Go's `Z07:00` (separator ":") or `Z0700` (""): `Z` for UTC, else the signed offset."""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{separator}{abs(minutes) % 60:02d}"


def duration(ns: int) -> str:
    """`time.Duration.String()`: `0s`, `750ns`, `1.5µs`, `20ms`, `2.69401362s`, `1h0m5s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{ns // 1_000}{_trim_fraction(ns % 1_000, 3)}µs"
    if ns < _NS_PER_S:
        return f"{sign}{ns // 1_000_000}{_trim_fraction(ns % 1_000_000, 6)}ms"
    total_s, frac = divmod(ns, _NS_PER_S)
    hours, rest = divmod(total_s, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds}{_trim_fraction(frac, 9)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text
