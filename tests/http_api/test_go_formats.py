"""Pure pieces of Go's behaviour that the metrics and host checks reproduce: float formatting,
the text exposition layout, Host parsing and the whitelist's set semantics, etcd's 421 text."""

from __future__ import annotations

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from http_api.exposition import exposition, go_float
from http_api.figures import Histogram, exponential
from http_api.hosts import HostWhitelist, go_hostname, host_problem, rejection_text
from http_api.wire import OTHER, frame


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"), (1, "1"), (5.0, "5"), (123456, "123456"), (1234567, "1.234567e+06"),
        (1e6, "1e+06"), (24969216, "2.4969216e+07"), (1.79631687719e9, "1.79631687719e+09"),
        (0.0001, "0.0001"), (0.00001, "1e-05"), (0.006314975999999999, "0.006314975999999999"),
        (-2.5, "-2.5"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN"),
        (2.0**64, "1.8446744073709552e+19"), (0.0016, "0.0016"), (3.2768, "3.2768"),
    ],
)  # fmt: skip
def test_go_float_is_strconv_g_shortest(value: float, text: str) -> None:
    assert go_float(value) == text


def test_exponential_buckets_are_go_s() -> None:
    assert [go_float(b) for b in exponential(0.0001, 2, 16)][-3:] == ["0.8192", "1.6384", "3.2768"]
    assert len(exponential(0.001, 2, 14)) == 14


def test_exposition_is_laid_out_as_go_s_registry() -> None:
    histogram = Histogram((0.5, 1.0))
    for value in (0.2, 0.5, 3.0):
        histogram.observe(value)
    family = Metric("b_seconds", "A histogram.", "histogram")
    family.add_sample("b_seconds_count", {}, histogram.count)
    family.add_sample("b_seconds_sum", {}, histogram.sum)
    for bound, count in histogram.cumulative():
        family.add_sample("b_seconds_bucket", {"le": go_float(bound)}, count)
    bare = Metric("etcd_server_health_success", "Bare.", "counter")
    bare.add_sample("etcd_server_health_success", {}, 2)
    client = CounterMetricFamily("c", "From prometheus-client.", labels=["z", "a"])
    client.add_metric(["2", 'x"y'], 1)
    client.add_metric(["1", "q"], 3)
    empty = GaugeMetricFamily("a_empty", "No series.", labels=["x"])
    text = exposition([family, client, bare, empty]).decode()
    assert text == (
        "# HELP b_seconds A histogram.\n# TYPE b_seconds histogram\n"
        'b_seconds_bucket{le="0.5"} 2\nb_seconds_bucket{le="1"} 2\nb_seconds_bucket{le="+Inf"} 3\n'
        "b_seconds_sum 3.7\nb_seconds_count 3\n"
        "# HELP c_total From prometheus-client.\n# TYPE c_total counter\n"
        'c_total{a="q",z="1"} 3\nc_total{a="x\\"y",z="2"} 1\n'
        "# HELP etcd_server_health_success Bare.\n# TYPE etcd_server_health_success counter\n"
        "etcd_server_health_success 2\n"
    )


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("a:1", "a"), ("[::1]:2379", "::1"), ("localhost", "localhost"), ("a:b:c", "a:b:c"),
        ("[::1]", "[::1]"), (":80", ""), ("h:", "h"), ("", ""), ("[::1]:1:2", "[::1]:1:2"),
    ],
)  # fmt: skip
def test_hostname_is_net_split_host_port_s_or_the_whole_value(host: str, name: str) -> None:
    assert go_hostname(host) == name


def test_whitelist_has_etcd_s_set_semantics() -> None:
    assert not HostWhitelist(("*",)).restricts and not HostWhitelist(()).restricts
    assert HostWhitelist(("a", "*")).allows("anything")
    only_empty = HostWhitelist(("",))  # `--host-whitelist ''`
    assert only_empty.allows("") and not only_empty.allows("localhost")
    listed = HostWhitelist(("example.com", "127.0.0.1"))
    assert listed.allows("127.0.0.1") and not listed.allows("evil.example")


def test_rejection_text_is_etcd_s_with_go_quoting() -> None:
    text = rejection_text('ev"il\n')
    assert text.startswith("\netcd received your request, but the Host header was unrecognized.")
    assert '  - e.g. etcd --host-whitelist "ev\\"il\\n"\n' in text
    assert text.endswith('help prevent "DNS Rebinding" attacks (CVE-2018-5702).\n')


def test_host_problems_are_go_s() -> None:
    assert host_problem("example.com:2379", True) is None
    assert host_problem("[fe80::1%25eth0]:1", True) is None
    assert host_problem("", True) is None  # an empty Host is valid in Go
    assert host_problem(None, True) == "missing required Host header"
    assert host_problem(None, False) is None  # HTTP/1.0 needs none
    assert host_problem("a b", True) == host_problem('q"x', True) == "malformed Host header"


def test_the_lane_leaves_a_refused_host_to_aiohttp_s_path() -> None:
    assert frame(b"GET /v2/keys/a HTTP/1.1\r\nHost: a b\r\n\r\n", 0) == OTHER
    head = frame(b"GET /v2/keys/a HTTP/1.1\r\nHost: example.com:1\r\n\r\n", 0)
    assert not isinstance(head, str) and head is not None and head.host == "example.com:1"
