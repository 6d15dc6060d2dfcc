"""pyetcd/srv.py's decisions with a fake resolver: etcd's SRV service names, how targets
become the initial cluster, and netutil.URLStringsEqual's comparison and reasons."""

from __future__ import annotations

import asyncio
import re

import pytest

from pyetcd import srv
from pyetcd.config import Config, ConfigError, load_config
from pyetcd.srv import ResolveError, SrvRecord, cluster_from_srv, srv_service, urls_equal

ZONE = {"n0.example.test:2380": "127.0.0.1:2380", "n1.example.test:2380": "127.0.0.2:2380",
        "n2.example.test:2380": "127.0.0.3:2380"}  # fmt: skip
RECORDS = [SrvRecord(f"n{i}.example.test", 2380) for i in range(3)]


async def _resolve(hostport: str) -> str:
    if hostport.split(":")[0].replace(".", "").isdigit():
        return hostport
    try:
        return ZONE[hostport]
    except KeyError:
        raise ResolveError(f"lookup {hostport.split(':')[0]}: no such host") from None


def test_srv_service_names() -> None:
    assert srv_service("etcd-server", "", "https") == "etcd-server-ssl"
    assert srv_service("etcd-server", "", "http") == "etcd-server"
    assert srv_service("etcd-server", "blue", "https") == "etcd-server-ssl-blue"
    assert srv_service("etcd-server", "blue", "http") == "etcd-server-blue"


def _cluster(own: dict[str, str], records: list[SrvRecord] = RECORDS) -> list[str]:
    return asyncio.run(cluster_from_srv("https", "etcd-server-ssl", records, "me", own, _resolve))


def test_this_member_is_found_by_address_the_others_numbered() -> None:
    entries = _cluster({"127.0.0.2:2380": "https://127.0.0.2:2380"})
    assert entries == ["0=https://n0.example.test:2380", "me=https://n1.example.test:2380",
                       "1=https://n2.example.test:2380"]  # fmt: skip


def test_scheme_mismatch_skips_the_entry_and_unresolvable_targets_are_skipped() -> None:
    records = [*RECORDS, SrvRecord("gone.example.test", 2380)]
    entries = _cluster({"127.0.0.1:2380": "http://127.0.0.1:2380"}, records=records)
    assert entries == ["0=https://n1.example.test:2380", "1=https://n2.example.test:2380"]
    with pytest.raises(ResolveError, match="scheme mismatch with expected peer http://127"):
        _cluster({"127.0.0.1:2380": "http://127.0.0.1:2380"}, records=RECORDS[:1])
    with pytest.raises(ResolveError, match=re.escape("lookup gone.example.test: no such host")):
        _cluster({}, records=records[3:])


def test_urls_equal_resolves_names_only_when_strings_differ() -> None:
    def equal(a: list[str], b: list[str]) -> str | None:
        return asyncio.run(urls_equal(a, b, _resolve, timeout=0.5))

    assert equal(["http://n0.example.test:2380"], ["http://n0.example.test:2380"]) is None
    assert equal(["http://127.0.0.1:2380"], ["http://n0.example.test:2380"]) is None
    assert equal(["http://127.0.0.1:2380"], ["http://n1.example.test:2380"]) == (
        'resolved urls: "http://127.0.0.1:2380" != "http://127.0.0.2:2380"'
    )
    assert equal(["http://a:1"], ["http://a:1", "http://b:1"]) == (
        'len(["http://a:1"]) != len(["http://a:1" "http://b:1"])'
    )


def test_unresolvable_names_are_retried_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def flaky(hostport: str) -> str:
        calls.append(hostport)
        if len(calls) < 3:
            raise ResolveError("lookup late.example.test: no such host")
        return "127.0.0.1:2380"

    monkeypatch.setattr(srv, "RETRY_INTERVAL", 0.01)
    found = asyncio.run(urls_equal(["http://127.0.0.1:2380"], ["http://late.example.test:2380"],
                                   flaky, timeout=5))  # fmt: skip
    assert found is None and len(calls) == 3
    reason = asyncio.run(urls_equal(["http://127.0.0.1:2380"], ["http://never.example.test:2380"],
                                    _resolve, timeout=0.05))  # fmt: skip
    assert reason == ('failed to resolve "http://never.example.test:2380" '
                      "(lookup never.example.test: no such host)")  # fmt: skip


def test_srv_name_alone_empties_the_default_initial_cluster() -> None:
    """As etcd 3.4: `--discovery-srv-name` without `--discovery-srv` or `--initial-cluster`
    leaves no initial cluster (etcd says the same)."""
    with pytest.raises(ConfigError, match='couldn\'t find local name "default" in the initial'):
        load_config(["--discovery-srv-name", "x"], {})
    assert isinstance(load_config(["--discovery-srv", "example.test"], {}), Config)
