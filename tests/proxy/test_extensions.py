"""pyetcd's proxy extension flags (etcd-release's etcd_proxy job): checked at load, and the
/v2/members answer they ask for."""

from __future__ import annotations

import json

import pytest

from pyetcd.config import Config, ConfigError, load_config
from pyetcd.proxy.server import members_answer_body


def _load(*argv: str) -> Config:
    loaded = load_config(list(argv), {})
    assert isinstance(loaded, Config)
    return loaded


def test_extension_flags_reach_the_config() -> None:
    config = _load("--proxy", "on", "--pyetcd-proxy-cluster-client-urls",
                   "https://b.example:4001,https://a.example:4001",
                   "--pyetcd-proxy-members-answer", "http://10.0.0.5:4001")  # fmt: skip
    assert config.proxy_cluster_client_urls == ("https://a.example:4001", "https://b.example:4001")
    assert config.proxy_members_answer == "http://10.0.0.5:4001"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pyetcd-proxy-members-answer", "http://a:1"], "only applies with --proxy on|readonly"),
        (["--pyetcd-proxy-cluster-client-urls", "http://a:1"], "only applies with --proxy"),
        (
            ["--proxy", "on", "--pyetcd-proxy-members-answer", "http://a:1,http://b:1"],
            "takes one URL",
        ),
        (
            ["--proxy", "on", "--pyetcd-proxy-cluster-client-urls", "a.example:4001"],
            "invalid value",
        ),
    ],
)
def test_extension_flags_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, {})


def test_members_answer_is_etcd_releases_fake_member() -> None:
    body = members_answer_body("http://10.0.0.5:4001")
    assert body.endswith(b"\n")
    assert json.loads(body) == {
        "members": [{"id": "xxxxxxxxxxxxxxxx", "name": "proxy",
                     "clientURLs": ["http://10.0.0.5:4001"]}]
    }  # fmt: skip
