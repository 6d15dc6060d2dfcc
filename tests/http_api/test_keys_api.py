"""`/v2/keys` over HTTP: bytes, headers and statuses as etcd 3.4.23 produces them.

A fresh member has used indexes 1-3 (member, publish, cluster version): the first user write is 4.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from pyetcd.server import EtcdServer
from tests.http_api.conftest import raw_request

CORS = {
    "Access-Control-Allow-Headers": "accept, content-type, authorization",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
    "Access-Control-Allow-Origin": "*",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_set_get_headers_and_body(client: TestClient, server: EtcdServer) -> None:
    resp = await client.put("/v2/keys/a?value=1")
    assert resp.status == 201
    assert await resp.read() == (
        b'{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":4,"createdIndex":4}}\n'
    )
    for name, value in CORS.items():
        assert resp.headers[name] == value
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Etcd-Cluster-Id"] == f"{server.cluster_id:x}"
    assert resp.headers["X-Etcd-Index"] == "4"
    assert resp.headers["X-Raft-Index"] == str(server.raft_index())
    assert resp.headers["X-Raft-Term"] == str(server.raft_term())

    resp = await client.put("/v2/keys/a", data="value=2", headers=FORM)
    assert resp.status == 200
    body = await resp.read()
    assert body.endswith(
        b'"prevNode":{"key":"/a","value":"1","modifiedIndex":4,"createdIndex":4}}\n'
    )

    resp = await client.get("/v2/keys/a/")
    assert resp.status == 200
    assert await resp.read() == (
        b'{"action":"get","node":{"key":"/a","value":"2","modifiedIndex":5,"createdIndex":5}}\n'
    )
    assert resp.headers["X-Etcd-Index"] == "5"


async def test_errors_have_index_and_no_raft_headers(client: TestClient) -> None:
    await client.put("/v2/keys/f?value=1")
    resp = await client.get("/v2/keys/missing/deeper")
    assert resp.status == 404
    assert await resp.read() == (
        b'{"errorCode":100,"message":"Key not found","cause":"/missing","index":4}\n'
    )
    assert resp.headers["X-Etcd-Index"] == "4"
    assert "X-Raft-Index" not in resp.headers and "X-Raft-Term" not in resp.headers
    cases = [
        ("PUT", "/v2/keys/f/g?value=1", 400, b'"errorCode":104,"message":"Not a directory"'),
        ("PUT", "/v2/keys/?value=1", 400, b'"errorCode":107,"message":"Root is read only"'),
        ("PUT", "/v2/keys/f?prevExist=false", 412, b'"errorCode":105'),
        ("PUT", "/v2/keys/f?prevValue=9&prevIndex=1", 412, b'"cause":"[9 != 1] [1 != 4]"'),
        ("DELETE", "/v2/keys/?prevValue=x", 403, b'{"errorCode":102,"message":"Not a file","index'),
    ]
    await client.put("/v2/keys/d?dir=true")
    cases += [
        ("PUT", "/v2/keys/d?dir=true", 403, b'"errorCode":102,"message":"Not a file","cause":"/d"'),
        ("DELETE", "/v2/keys/d", 403, b'"errorCode":102'),
    ]
    await client.put("/v2/keys/d/x?value=1")
    cases.append(("DELETE", "/v2/keys/d?dir=true", 403, b'"errorCode":108'))
    for method, url, status, fragment in cases:
        resp = await client.request(method, url)
        assert resp.status == status, url
        assert fragment in await resp.read(), url


async def test_request_errors_have_index_zero(client: TestClient) -> None:
    await client.put("/v2/keys/a?value=1")
    resp = await client.put("/v2/keys/a?ttl=abc")
    assert resp.status == 400
    assert resp.headers["X-Etcd-Index"] == "0"
    assert await resp.read() == (
        b'{"errorCode":202,"message":"The given TTL in POST form is not a number",'
        b'"cause":"invalid value for \\"ttl\\"","index":0}\n'
    )


async def test_status_codes_of_each_action(client: TestClient) -> None:
    expectations = [
        ("PUT", "/v2/keys/k?value=1", 201, b'"action":"set"'),
        ("PUT", "/v2/keys/k?value=2", 200, b'"action":"set"'),
        ("PUT", "/v2/keys/n?value=1&prevExist=false", 201, b'"action":"create"'),
        ("PUT", "/v2/keys/k?value=3&prevExist=true", 200, b'"action":"update"'),
        ("PUT", "/v2/keys/k?value=4&prevValue=3", 200, b'"action":"compareAndSwap"'),
        ("POST", "/v2/keys/q?value=x", 201, b'"key":"/q/00000000000000000009"'),
        ("DELETE", "/v2/keys/k?prevValue=4", 200, b'"action":"compareAndDelete"'),
        ("DELETE", "/v2/keys/n", 200, b'"action":"delete"'),
    ]
    for method, url, status, fragment in expectations:
        resp = await client.request(method, url)
        assert resp.status == status, url
        assert fragment in await resp.read(), url


async def test_no_value_on_success(client: TestClient) -> None:
    resp = await client.put("/v2/keys/a?value=1&noValueOnSuccess=true")
    assert (resp.status, await resp.read()) == (201, b'{"action":"set"}\n')
    resp = await client.put("/v2/keys/a?value=2&prevValue=1&noValueOnSuccess=true")
    assert await resp.read() == b'{"action":"compareAndSwap"}\n'
    resp = await client.delete("/v2/keys/a?noValueOnSuccess=true")
    assert b'"prevNode"' in await resp.read()
    resp = await client.put("/v2/keys/a?value=2&prevExist=true&noValueOnSuccess=true")
    assert b'"errorCode":100' in await resp.read()


async def test_form_body_rules(client: TestClient) -> None:
    resp = await client.put("/v2/keys/a?value=q", data="value=b&value=c", headers=FORM)
    assert b'"value":"b"' in await resp.read()
    resp = await client.put("/v2/keys/a", data="value=x", headers={"Content-Type": "text/plain"})
    assert b'"value":""' in await resp.read()
    resp = await client.delete("/v2/keys/a", data="prevValue=x", headers=FORM)
    assert b'"action":"delete"' in await resp.read()
    resp = await client.put("/v2/keys/a", data="value=1;x=2", headers=FORM)
    assert b'"cause":"invalid semicolon separator in query"' in await resp.read()
    resp = await client.put("/v2/keys/a", data="value=1", headers={"Content-Type": "text/plain; x"})
    assert b'"errorCode":210,"message":"Invalid POST form","cause":"mime: invalid media' in (
        await resp.read()
    )
    raw = await raw_request(client, "GET", "/v2/keys/a?a=1;b=2")
    assert raw.status == 400
    assert b'"errorCode":210' in raw.body
    raw = await raw_request(client, "PUT", "/v2/keys/a?value=%zz")
    assert b'"cause":"invalid URL escape \\"%zz\\""' in raw.body


async def test_form_size_limit(client: TestClient) -> None:
    limit = 10 << 20
    body = b"value=" + b"v" * (limit - 6)
    resp = await client.put("/v2/keys/big", data=body, headers=FORM)
    assert resp.status == 201
    resp = await client.put("/v2/keys/big", data=body + b"v", headers=FORM)
    assert resp.status == 400
    assert await resp.read() == (
        b'{"errorCode":210,"message":"Invalid POST form","cause":"http: POST too large",'
        b'"index":0}\n'
    )


async def test_long_key_in_url(client: TestClient) -> None:
    key = "k" * 100_000
    resp = await client.put(f"/v2/keys/{key}?value=1")
    assert resp.status == 201
    resp = await client.get(f"/v2/keys/{key}")
    assert resp.status == 200


async def test_head_mirrors_get_without_body(client: TestClient) -> None:
    await client.put("/v2/keys/a?value=1")
    for url, status in (("/v2/keys/a", 200), ("/v2/keys/nope", 404), ("/v2/keys/a?wait=1", 400)):
        get = await raw_request(client, "GET", url.replace("wait=1", "wait=x"))
        head = await raw_request(client, "HEAD", url)
        assert head.status == status
        assert head.body == b""
        if status != 400:
            assert get.status == status
            assert head.headers["Content-Length"] == str(len(get.body))
            assert head.headers["X-Etcd-Index"] == get.headers["X-Etcd-Index"]


async def test_quorum_get_and_wait_with_quorum(client: TestClient) -> None:
    await client.put("/v2/keys/a?value=1")
    resp = await client.get("/v2/keys/a?quorum=true&wait=true&waitIndex=1")
    assert resp.status == 200
    assert b'"action":"get"' in await resp.read()


async def test_routing_404_405_options_and_redirects(client: TestClient) -> None:
    resp = await raw_request(client, "PATCH", "/v2/keys/a")
    assert (resp.status, resp.body) == (405, b"Method Not Allowed\n")
    assert resp.headers["Allow"] == "HEAD,GET,PUT,POST,DELETE"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Etcd-Cluster-Id" not in resp.headers
    resp = await raw_request(client, "GET", "/v2/keysX")
    assert (resp.status, resp.body) == (404, b"404 page not found\n")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    resp = await raw_request(client, "OPTIONS", "/anything//at/all")
    assert (resp.status, resp.body) == (200, b"")
    assert resp.headers["Access-Control-Allow-Methods"] == CORS["Access-Control-Allow-Methods"]
    resp = await raw_request(client, "GET", "/v2/keys/a//b?x=1")
    assert resp.status == 301
    assert resp.headers["Location"] == "/v2/keys/a/b?x=1"
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.body == b'<a href="/v2/keys/a/b?x=1">Moved Permanently</a>.\n\n'
    resp = await raw_request(client, "PUT", "/v2/keys/a/./b?value=1")
    assert (resp.status, resp.body) == (301, b"")
    assert "Content-Type" not in resp.headers
    resp = await raw_request(client, "GET", "/v2/keys/a%2F..%2Fb")
    assert resp.headers["Location"] == "/v2/keys/b"
    resp = await raw_request(client, "GET", "/v2/keys/%zz")
    assert (resp.status, resp.body) == (400, b"400 Bad Request")
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get("/v2/keys/a?value=1")
    assert b'"errorCode":100' in await resp.read()


async def test_percent_decoded_keys_and_escaping(client: TestClient) -> None:
    resp = await raw_request(client, "PUT", "/v2/keys/sp%20ace%3F?value=%3Cb%3E%26%08")
    assert resp.body == (
        b'{"action":"set","node":{"key":"/sp ace?","value":"\\u003cb\\u003e\\u0026\\u0008",'
        b'"modifiedIndex":4,"createdIndex":4}}\n'
    )
    resp = await raw_request(client, "GET", "/v2/keys/a%2Fb%ff")
    assert resp.body == (b'{"errorCode":100,"message":"Key not found","cause":"/a","index":4}\n')
    resp = await raw_request(client, "GET", "/v2/keys/%ff%c3")
    assert b'"cause":"/\\ufffd\\ufffd"' in resp.body


async def test_root_listing(client: TestClient) -> None:
    resp = await client.get("/v2/keys")
    assert await resp.read() == b'{"action":"get","node":{"dir":true}}\n'
    await client.put("/v2/keys/b?value=2")
    await client.put("/v2/keys/a/_hidden?value=1")
    resp = await client.get("/v2/keys/?recursive=true&sorted=true")
    assert await resp.read() == (
        b'{"action":"get","node":{"dir":true,"nodes":['
        b'{"key":"/a","dir":true,"modifiedIndex":5,"createdIndex":5},'
        b'{"key":"/b","value":"2","modifiedIndex":4,"createdIndex":4}]}}\n'
    )


async def test_ttl_fields(client: TestClient) -> None:
    resp = await client.put("/v2/keys/t?value=1&ttl=100")
    body = await resp.read()
    assert b'"expiration":"' in body and b'"ttl":100,' in body
    resp = await client.put("/v2/keys/t", data="ttl=", headers=FORM)
    body = await resp.read()
    assert b'"node":{"key":"/t","value":"","modifiedIndex"' in body


async def test_metrics_count_requests(client: TestClient) -> None:
    await client.get("/v2/keys/a?quorum=true")
    await client.put("/v2/keys/a?value=1")
    await client.get("/v2/keys/a?wait=true&waitIndex=4")
    text = (await (await client.get("/metrics")).read()).decode()
    assert 'etcd_http_received_total{method="QGET"} 1' in text
    assert 'etcd_http_received_total{method="PUT"} 1' in text
    assert 'etcd_http_failed_total{code="404",method="QGET"} 1' in text
    assert 'etcd_http_received_total{method="GET"}' not in text
    assert 'etcd_http_successful_duration_seconds_count{method="PUT"} 1' in text
    assert 'etcd_http_successful_duration_seconds_count{method="QGET"}' not in text


async def test_invalid_utf8_key_and_value_are_stored_and_echoed_as_go_does(
    client: TestClient, server: EtcdServer
) -> None:
    resp = await raw_request(client, "PUT", b"/v2/keys/k%ff?value=v%fe%41")
    assert resp.status == 201
    assert resp.body == (
        b'{"action":"set","node":{"key":"/k\\ufffd","value":"v\\ufffdA",'
        b'"modifiedIndex":4,"createdIndex":4}}\n'
    )
    resp = await raw_request(client, "GET", b"/v2/keys/k%ff")
    assert resp.status == 200
    assert b'"value":"v\\ufffdA"' in resp.body
    restored = type(server.store).restore(server.store.save())
    assert restored.get("/k\udcff", now=server.now()).node.value == "v\udcfeA"
