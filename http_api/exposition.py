"""Prometheus text format 0.0.4 as client_golang's registry writes it, so that `/metrics`
reads like etcd's: families sorted by name, series by label values, histogram buckets then
`_sum` and `_count`, Go's float format, and etcd's counters that have no `_total` suffix."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

__all__ = ["exposition", "go_float"]

# etcd's counters named without `_total` (prometheus-client would append it).
_BARE_COUNTERS = frozenset(
    {
        "etcd_server_health_failures",
        "etcd_server_health_success",
        "etcd_server_learner_promote_successes",
        "etcd_network_snapshot_send_success",
        "etcd_network_snapshot_send_failures",
        "etcd_network_snapshot_receive_success",
        "etcd_network_snapshot_receive_failures",
    }
)
_SUFFIXES = ("_bucket", "_sum", "_count")


def go_float(value: float) -> str:
    """`strconv.FormatFloat(v, 'g', -1, 64)` as client_golang writes sample values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return "-" + text if sign else text


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
    return "{" + pairs + "}"


def _exposed_name(metric: Metric) -> str:
    """prometheus-client's counter families drop `_total` from their name; ours keep etcd's."""
    name = metric.name
    if metric.type != "counter" or name in _BARE_COUNTERS or name.endswith("_total"):
        return name
    return name + "_total"


def _series_order(metric: Metric, samples: list[Sample]) -> list[Sample]:
    """Series by label values (`le` aside); a histogram's buckets, then `_sum`, `_count`."""

    def key(sample: Sample) -> tuple[object, ...]:
        labels = sorted((k, v) for k, v in sample.labels.items() if k != "le")
        if metric.type != "histogram":
            return (labels,)
        suffix = next((i for i, s in enumerate(_SUFFIXES) if sample.name.endswith(s)), 3)
        le = float(sample.labels.get("le", "nan").replace("+Inf", "inf"))
        return (labels, suffix, le)

    return sorted(samples, key=key)


def exposition(families: Iterable[Metric]) -> bytes:
    """Text format 0.0.4 as Go's registry writes it; empty families are left out."""
    blocks: dict[str, str] = {}
    for metric in families:
        samples = [s for s in metric.samples if not s.name.endswith("_created")]
        if not samples:
            continue
        name = _exposed_name(metric)
        help_text = metric.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        kind = "gauge" if metric.type in ("info", "stateset") else metric.type
        lines = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]
        for sample in _series_order(metric, samples):
            sample_name = name if metric.type == "counter" else sample.name
            lines.append(f"{sample_name}{_labels(sample.labels)} {go_float(sample.value)}\n")
        blocks[name] = "".join(lines)
    return "".join(blocks[name] for name in sorted(blocks)).encode()
