"""Scenarios for the endpoints beside /v2/keys: members, machines, stats, version, health,
metrics, auth status (spec §3)."""

from __future__ import annotations

import base64

from tests.compat.dsl import (
    JSON,
    Scenario,
    delete,
    get,
    head,
    keepalive,
    post,
    put,
    req,
    scenario,
)

M = "/v2/members"
PEER_JSON = '{"peerURLs":["@PEER@"]}'
# A peer that never answers (discard port, refused): adding it costs the 1-member cluster quorum.
DEAD_PEER_JSON = '{"peerURLs":["http://127.0.0.1:9"]}'
# Raft-backed requests give up after 5 s + 2 x election timeout: allow for that.
SLOW = 12.0


def basic(user: str, password: str) -> tuple[tuple[str, str], ...]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return (("Authorization", f"Basic {token}"),)


ROOT = basic("root", "pw")

MEMBERS = [
    scenario("members-list", get(M), get(f"{M}/")),
    scenario("members-leader", get(f"{M}/leader")),
    scenario("members-unknown-subpath-404", get(f"{M}/nope"), get(f"{M}/@MID@")),
    scenario("members-head-405", head(M)),
    scenario("members-bad-methods-405", req("PATCH", M), delete(M), req("PUT", M, "{}", JSON)),
    scenario(
        "members-post-wrong-content-type-415",
        req("POST", M, PEER_JSON, (("Content-Type", "text/plain"),)),
        post(M, "peerURLs=x"),
    ),
    scenario("members-post-no-content-type-415", req("POST", M, PEER_JSON, ())),
    scenario(
        "members-post-bad-json-400",
        req("POST", M, "{nope", JSON),
        req("POST", M, '{"peerURLs":"x"}', JSON),
    ),
    scenario(
        "members-post-bad-url-400",
        req("POST", M, '{"peerURLs":["bad"]}', JSON),
        req(
            "POST",
            M,
            '{"peerURLs":["ftp://h:1"]}',
            (("Content-Type", "application/json; charset=utf-8"),),
        ),
    ),
    scenario("members-post-existing-peer-409", req("POST", M, PEER_JSON, JSON), get(M)),
    scenario("members-delete-unknown-404", delete(f"{M}/abcdef"), delete(f"{M}/zz-not-hex")),
    scenario("members-put-unknown-404", req("PUT", f"{M}/abcdef", PEER_JSON, JSON)),
    scenario(
        "members-put-wrong-content-type-415",
        req("PUT", f"{M}/@MID@", PEER_JSON, (("Content-Type", "text/plain"),)),
    ),
    scenario("members-put-bad-json-400", req("PUT", f"{M}/@MID@", "[1", JSON)),
    scenario(
        "members-put-self-same-url-204",
        req("PUT", f"{M}/@MID@", PEER_JSON, JSON),
        get(M),
        put("/v2/keys/a", "value=1"),
    ),
    scenario("members-options", req("OPTIONS", f"{M}/leader")),
    scenario(
        "quorum-loss-300-and-503",
        put("/v2/keys/a", "value=1"),
        req("POST", M, DEAD_PEER_JSON, JSON, timeout=SLOW),
        req("PUT", "/v2/keys/a", "value=2", timeout=SLOW),
        get("/v2/keys/a"),
        req("GET", "/v2/keys/a?quorum=true", timeout=SLOW),
        req("GET", "/health", timeout=SLOW),
    ),
]

AUTH = [
    scenario("auth-status-then-index", get("/v2/auth/enable"), put("/v2/keys/a", "value=1")),
    scenario("auth-users-and-roles-list", get("/v2/auth/users"), get("/v2/auth/roles")),
    scenario(
        "auth-enable-and-110",
        req("PUT", "/v2/auth/users/root", '{"user":"root","password":"pw"}', JSON),
        req("PUT", "/v2/auth/enable"),
        get("/v2/keys/a", basic("root", "bad")),
        get("/v2/keys/a", ROOT),
        get("/v2/keys/a"),
        put("/v2/keys/a", "value=guest"),
        req("DELETE", "/v2/auth/enable", headers=ROOT),
        get("/v2/auth/enable"),
        put("/v2/keys/b", "value=1"),
    ),
    scenario("auth-enable-without-root-409", req("PUT", "/v2/auth/enable"), get("/v2/auth/enable")),
]

MISC = [
    scenario("version", get("/version")),
    scenario("version-bad-methods-405", put("/version", "x=1"), head("/version")),
    scenario("health", get("/health")),
    scenario("health-bad-methods-405", post("/health", "x=1"), head("/health")),
    scenario("machines", get("/v2/machines"), head("/v2/machines")),
    scenario("machines-trailing-slash-404", get("/v2/machines/")),
    scenario("machines-post", post("/v2/machines", "x=1")),
    scenario("stats-store-field-order", get("/v2/stats/store")),
    scenario(
        "stats-store-after-traffic",
        put("/v2/keys/a", "value=1"),
        get("/v2/keys/a"),
        get("/v2/keys/zz"),
        delete("/v2/keys/a"),
        get("/v2/stats/store"),
    ),
    scenario("stats-self-shape", get("/v2/stats/self")),
    scenario("stats-leader-shape", get("/v2/stats/leader")),
    scenario(
        "stats-bad-methods-405",
        post("/v2/stats/store", "x=1"),
        head("/v2/stats/self"),
        delete("/v2/stats/leader"),
    ),
    scenario("stats-unknown-404", get("/v2/stats/nope"), get("/v2/stats")),
    scenario(
        "large-bodies-are-chunked",
        put("/v2/keys/big", "value=" + "x" * 3000),
        get("/v2/keys/big"),
        head("/v2/keys/big"),
        get("/v2/keys/?recursive=true"),
        keepalive(get("/v2/keys/big"), get("/v2/keys/big?quorum=true"), head("/v2/keys/big")),
    ),
    scenario(
        "metrics-methods-and-gzip",
        get("/metrics", (("Accept-Encoding", "gzip"),)),
        get("/metrics", (("Accept-Encoding", "br, gzip;q=0.5"),)),
        get("/metrics", (("Accept-Encoding", "gzipx"),)),
        head("/metrics"),
        post("/metrics", "x=1"),
        req("DELETE", "/metrics"),
    ),
    scenario(
        "metrics-store-names",
        put("/v2/keys/a", "value=1"),
        get("/v2/keys/a"),
        get("/v2/keys/a?recursive=true"),
        get("/health"),
        get("/metrics"),
    ),
]

ENDPOINT_SCENARIOS: list[Scenario] = MEMBERS + MISC + AUTH
