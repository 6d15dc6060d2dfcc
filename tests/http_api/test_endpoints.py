"""Everything on the client port besides `/v2/keys`."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from http_api.app import make_app
from http_api.protocol import MembersError
from pyetcd.server import EtcdServer
from tests.http_api.conftest import CLIENT_URL, PEER_URL, raw_request

JSON_HEADERS = {"Content-Type": "application/json"}


async def test_version(client: TestClient, server: EtcdServer, monkeypatch) -> None:
    resp = await raw_request(client, "GET", "/version")
    assert (resp.status, resp.body) == (200, b'{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}')
    assert resp.headers["Content-Type"] == "application/json"
    monkeypatch.setattr(server, "cluster_version", lambda: None)
    resp = await raw_request(client, "GET", "/version")
    assert resp.body == b'{"etcdserver":"3.4.23","etcdcluster":"not_decided"}'
    for method in ("POST", "HEAD"):
        resp = await raw_request(client, method, "/version")
        assert (resp.status, resp.headers["Allow"]) == (405, "GET")
    assert (await raw_request(client, "GET", "/version/")).status == 404


async def test_health(client: TestClient, server: EtcdServer, monkeypatch) -> None:
    resp = await raw_request(client, "GET", "/health")
    assert (resp.status, resp.body) == (200, b'{"health":"true"}')
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"

    async def unhealthy() -> bool:
        return False

    monkeypatch.setattr(server, "health", unhealthy)
    resp = await raw_request(client, "GET", "/health")
    assert (resp.status, resp.body) == (503, b'{"health":"false"}\n')
    resp = await raw_request(client, "PUT", "/health")
    assert (resp.status, resp.headers["Allow"]) == (405, "GET")
    text = (await raw_request(client, "GET", "/metrics")).body.decode()
    assert "etcd_server_health_success 1\n" in text
    assert "etcd_server_health_failures 1\n" in text


async def test_stats(client: TestClient, server: EtcdServer, monkeypatch) -> None:
    before = server.store.stats()
    await client.put("/v2/keys/a?value=1")
    await client.get("/v2/keys/a")
    resp = await raw_request(client, "GET", "/v2/stats/store")
    assert resp.status == 200
    assert not resp.body.endswith(b"\n")
    stats = json.loads(resp.body)
    assert list(stats)[:3] == ["getsSuccess", "getsFail", "setsSuccess"]
    assert list(stats)[-1] == "watchers"
    assert stats["getsSuccess"] == before.gets_success + 1
    assert stats["setsSuccess"] == before.sets_success + 1
    resp = await raw_request(client, "GET", "/v2/stats/self")
    assert json.loads(resp.body)["name"] == "n1"
    resp = await raw_request(client, "GET", "/v2/stats/leader")
    assert resp.body == b'{"leader":"%x","followers":{}}' % server.member_id
    monkeypatch.setattr(server, "leader_stats", lambda: None)
    resp = await raw_request(client, "GET", "/v2/stats/leader")
    assert (resp.status, resp.body) == (403, b'{"message":"not current leader"}')
    for path in ("/v2/stats/store", "/v2/stats/self", "/v2/stats/leader"):
        resp = await raw_request(client, "HEAD", path)
        assert (resp.status, resp.headers["Allow"]) == (405, "GET")
    assert (await raw_request(client, "GET", "/v2/stats/")).status == 404


async def test_machines(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        resp = await raw_request(client, method, "/v2/machines")
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(len(CLIENT_URL))
    assert (await raw_request(client, "GET", "/v2/machines")).body == CLIENT_URL.encode()
    resp = await raw_request(client, "POST", "/v2/machines")
    assert (resp.status, resp.headers["Allow"]) == (405, "GET,HEAD")
    assert (await raw_request(client, "GET", "/v2/machines/")).status == 404


def _member_line(server: EtcdServer) -> bytes:
    return b'{"id":"%x","name":"n1","peerURLs":["%s"],"clientURLs":["%s"]}' % (
        server.member_id,
        PEER_URL.encode(),
        CLIENT_URL.encode(),
    )


async def test_members_get(client: TestClient, server: EtcdServer) -> None:
    for path in ("/v2/members", "/v2/members/"):
        resp = await raw_request(client, "GET", path)
        assert resp.body == b'{"members":[' + _member_line(server) + b"]}\n"
        assert resp.headers["X-Etcd-Cluster-Id"] == f"{server.cluster_id:x}"
    resp = await raw_request(client, "GET", "/v2/members/leader")
    assert resp.body == _member_line(server) + b"\n"
    resp = await raw_request(client, "GET", "/v2/members/other")
    assert (resp.status, resp.body) == (404, b'{"message":"Not found"}')


async def test_members_leader_during_election(
    client: TestClient, server: EtcdServer, monkeypatch
) -> None:
    monkeypatch.setattr(server, "leader", lambda: None)
    resp = await raw_request(client, "GET", "/v2/members/leader")
    assert (resp.status, resp.body) == (503, b'{"message":"During election"}')


async def test_members_method_rules(client: TestClient) -> None:
    for method in ("HEAD", "PATCH"):
        resp = await raw_request(client, method, "/v2/members")
        assert (resp.status, resp.headers["Allow"]) == (405, "GET,POST,DELETE,PUT")
    for method in ("DELETE", "PUT"):
        resp = await raw_request(client, method, "/v2/members")
        assert (resp.status, resp.body) == (405, b"Method Not Allowed\n")
        assert "Allow" not in resp.headers
        assert "X-Etcd-Cluster-Id" in resp.headers


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/plain", "{}", 415, "Bad Content-Type text/plain, accept application/json"),
        (
            "Application/JSON",
            "{}",
            415,
            "Bad Content-Type Application/JSON, accept application/json",
        ),
        ("Application/JSON; x=1", "{}", 400, "no valid URLs given"),
        ("application/json", "", 400, "unexpected end of JSON input"),
        ("application/json", "x", 400, "invalid character 'x' looking for beginning of value"),
        ("application/json", "{} x", 400, "invalid character 'x' after top-level value"),
        (
            "application/json",
            '{"a":1,}',
            400,
            "invalid character '}' looking for beginning of object key string",
        ),
        (
            "application/json",
            '{"peerURLs":"x"}',
            400,
            "json: cannot unmarshal string into Go struct field .peerURLs of type []string",
        ),
        (
            "application/json",
            '{"peerURLs":[1]}',
            400,
            "json: cannot unmarshal number into Go struct field .peerURLs of type string",
        ),
        (
            "application/json",
            "[1]",
            400,
            "json: cannot unmarshal array into Go value of type struct { PeerURLs []string "
            '"json:\\"peerURLs\\"" }',
        ),
        ("application/json", '{"peerURLs":null}', 400, "no valid URLs given"),
        (
            "application/json",
            '{"peerURLs":["ftp://a:1"]}',
            400,
            "URL scheme must be http, https, unix, or unixs: ftp://a:1",
        ),
        (
            "application/json",
            '{"peerURLs":["http://a"]}',
            400,
            'URL address does not have the form "host:port": http://a',
        ),
        (
            "application/json",
            '{"peerURLs":["http://a:1/p"]}',
            400,
            "URL must not contain a path: http://a:1/p",
        ),
        (
            "application/json",
            '{"peerURLs":["http://a:x"]}',
            400,
            'parse "http://a:x": invalid port ":x" after host',
        ),
        ("application/json", f'{{"peerURLs":["{PEER_URL}"]}}', 409, "membership: peerURL exists"),
    ],
)
async def test_members_add_validation(
    client: TestClient, content_type: str, body: str, status: int, message: str
) -> None:
    resp = await raw_request(
        client, "POST", "/v2/members", body.encode(), {"Content-Type": content_type}
    )
    assert resp.status == status
    assert json.loads(resp.body) == {"message": message}
    assert not resp.body.endswith(b"\n")


async def test_members_add_and_request_errors(client: TestClient, server: EtcdServer) -> None:
    """Adding a voter that never starts costs a one-member cluster its quorum (as in etcd), so
    update and remove over raft are covered by tests/pyetcd/test_cluster.py; here the add and
    the errors decided before anything is proposed."""
    resp = await client.post(
        "/v2/members", data='{"PEERurls":[" http://10.0.0.2:2380 "]}', headers=JSON_HEADERS
    )
    assert resp.status == 201
    body = await resp.read()
    added = json.loads(body)
    assert body.endswith(b"\n")
    assert added["peerURLs"] == ["http://10.0.0.2:2380"]
    assert (added["name"], added["clientURLs"]) == ("", [])
    resp = await client.put(
        f"/v2/members/{added['id']}",
        data=f'{{"peerURLs":["{PEER_URL}"]}}',
        headers=JSON_HEADERS,
    )
    assert (resp.status, await resp.read()) == (409, b'{"message":"membership: peerURL exists"}')
    for member_id in ("zz", "1234", "0x12"):
        resp = await client.delete(f"/v2/members/{member_id}")
        assert (resp.status, await resp.read()) == (
            404,
            b'{"message":"No such member: %s"}' % member_id.encode(),
        )


async def test_members_server_failure_is_500(
    client: TestClient, server: EtcdServer, monkeypatch
) -> None:
    async def failing(member_id: int) -> None:
        raise MembersError(500, "Internal Server Error")

    monkeypatch.setattr(server, "remove_member", failing)
    resp = await client.delete(f"/v2/members/{server.member_id:x}")
    assert (resp.status, await resp.read()) == (500, b'{"message":"Internal Server Error"}')


async def test_metrics_exposition(client: TestClient, server: EtcdServer) -> None:
    await client.put("/v2/keys/a?value=1")
    sets = dict(server.store.metrics().writes)["set"]
    await client.get("/v2/keys/a?recursive=true")
    resp = await raw_request(client, "POST", "/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = resp.body.decode()
    for line in (
        'etcd_debugging_store_reads_total{action="getRecursive"} 1',
        f'etcd_debugging_store_writes_total{{action="set"}} {sets}',
        "etcd_debugging_store_expires_total 0",
        "etcd_debugging_store_watchers 0",
        "etcd_debugging_store_watch_requests_total 0",
        'etcd_http_received_total{method="PUT"} 1',
        "etcd_server_has_leader 1",
        "# TYPE etcd_server_health_success counter",
        f'etcd_server_id{{server_id="{server.member_id:x}"}} 1',
        "etcd_server_is_leader 1",
        "etcd_server_leader_changes_seen_total 1",
        "etcd_server_proposals_pending 0",
        "etcd_server_proposals_failed_total 0",
    ):
        assert line in text, line
    figures = server.server_metrics()
    assert figures is not None
    committed = float(text.split("\netcd_server_proposals_committed_total ")[1].split()[0])
    applied = float(text.split("\netcd_server_proposals_applied_total ")[1].split()[0])
    assert 0 < applied <= committed <= figures.proposals_committed
    assert "etcd_network_snapshot" not in text, "a lone member sends and receives no snapshot"
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert names == sorted(names) and len(names) == len(set(names))


async def test_registries_are_per_app(server: EtcdServer) -> None:
    async with TestClient(TestServer(make_app(server))) as first:
        await first.put("/v2/keys/a?value=1")
        async with TestClient(TestServer(make_app(server))) as second:
            text = (await (await second.get("/metrics")).read()).decode()
    assert 'etcd_http_received_total{method="PUT"}' not in text


async def test_cors_origin_list(server: EtcdServer) -> None:
    async with TestClient(TestServer(make_app(server, cors=("http://ok",)))) as client:
        resp = await client.get("/version", headers={"Origin": "http://ok"})
        assert resp.headers["Access-Control-Allow-Origin"] == "http://ok"
        resp = await client.get("/version", headers={"Origin": "http://other"})
        assert "Access-Control-Allow-Origin" not in resp.headers
        resp = await client.options("/v2/keys/a", headers={"Origin": "http://ok"})
        assert (resp.status, resp.headers["Access-Control-Allow-Origin"]) == (200, "http://ok")
