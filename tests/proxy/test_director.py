"""The proxy's endpoint choice and its configuration, without processes."""

from __future__ import annotations

import random

from pyetcd.config import Config, load_config
from pyetcd.proxy.director import EMPTY_REFRESH_S, Director
from pyetcd.proxy.gohttp import error_body, go_headers
from pyetcd.proxy.run import settings_of


def test_failed_endpoints_rest_for_the_failure_wait() -> None:
    d = Director(failure_wait=5.0, rng=random.Random(1))
    d.refresh(["http://a", "http://b", "http://c"])
    assert sorted(d.available(0.0)) == ["http://a", "http://b", "http://c"]
    assert d.failed("http://b", 1.0) and not d.failed("http://b", 2.0)
    assert "http://b" not in d.available(5.9)
    assert "http://b" in d.available(6.0)
    d.failed("http://a", 10.0)
    d.refresh(["http://a"])  # a refresh builds fresh, available endpoints, as etcd does
    assert d.available(10.0) == ["http://a"]


def test_refresh_interval_drops_to_a_second_while_no_endpoint_is_known() -> None:
    d = Director(failure_wait=5.0, rng=random.Random(1))
    assert d.next_refresh(30.0, 0.0) == EMPTY_REFRESH_S
    assert d.next_refresh(10.0, 0.0) == 10.0  # etcd keeps intervals below its default
    d.refresh(["http://a"])
    assert d.next_refresh(30.0, 0.0) == 30.0


def test_go_header_order_and_error_body() -> None:
    headers = go_headers([("X-B", "1"), ("Content-Type", "application/json"), ("A", "2")], 0, 7)
    assert [k for k, _ in headers] == ["A", "Content-Type", "X-B", "Date", "Content-Length"]
    assert headers[3] == ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
    assert error_body("a <b> & c") == b'{"message":"a \\u003cb\\u003e \\u0026 c"}'


def test_a_proxy_needs_neither_a_place_in_the_cluster_nor_advertised_urls() -> None:
    config = load_config(
        ["--proxy", "readonly", "--name", "px", "--listen-client-urls", "http://127.0.0.1:4001",
         "--initial-cluster", "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002",
         "--proxy-failure-wait", "100", "--proxy-read-timeout", "2500"],
        {},
    )  # fmt: skip
    assert isinstance(config, Config)
    settings = settings_of(config)
    assert settings.readonly
    assert settings.peer_urls == ("http://127.0.0.1:7001", "http://127.0.0.1:7002")
    assert (settings.failure_wait, settings.read_timeout) == (0.1, 2.5)
    assert settings.refresh_interval == 30.0 and settings.dial_timeout == 1.0
