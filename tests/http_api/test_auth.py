"""v2 auth over HTTP: `/v2/auth/*` statuses and messages, 110 on `/v2/keys`, the guest role,
permission matching, root-only member changes, the client-certificate hook; then the other
compatibility fixes (`/v3/` paths, closing after a bad escape)."""

from __future__ import annotations

import asyncio
import base64
import json

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from http_api.app import make_app
from pyetcd.server import EtcdServer
from tests.http_api.conftest import raw_request

NO_AUTH = b'{"message":"Insufficient credentials"}'
E110 = (
    b'{"errorCode":110,"message":"The request requires user authentication",'
    b'"cause":"Insufficient credentials","index":0}\n'
)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ROOT = basic("root", "pw")


async def call(
    client: TestClient,
    method: str,
    target: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    data = body.encode() if isinstance(body, str) else None if body is None else json.dumps(body)
    raw = data.encode() if isinstance(data, str) else data
    resp = await raw_request(client, method, target, raw, headers)
    return resp.status, resp.body


async def enable_with_root(client: TestClient) -> None:
    assert (await call(client, "PUT", "/v2/auth/users/root", {"user": "root", "password": "pw"}))[
        0
    ] == 201
    assert await call(client, "PUT", "/v2/auth/enable") == (200, b"")


async def test_status_users_and_roles_before_any_write(client: TestClient) -> None:
    resp = await raw_request(client, "GET", "/v2/auth/enable")
    assert (resp.status, resp.body) == (200, b'{"enabled":false}\n')
    assert resp.headers["Content-Type"] == "application/json"
    assert "X-Etcd-Cluster-Id" in resp.headers
    assert await call(client, "GET", "/v2/auth/users") == (200, b'{"users":null}\n')
    root = b'{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}'
    assert await call(client, "GET", "/v2/auth/roles/") == (200, b'{"roles":[' + root + b"]}\n")
    assert await call(client, "GET", "/v2/auth/roles/root") == (200, root + b"\n")
    assert await call(client, "GET", "/v2/auth/roles/guest") == (
        404,
        b'{"message":"auth: Role guest does not exist."}',
    )
    assert await call(client, "PUT", "/v2/auth/enable") == (
        409,
        b'{"message":"auth: No root user available, please create one"}',
    )
    assert await call(client, "DELETE", "/v2/auth/enable") == (
        409,
        b'{"message":"auth: already disabled"}',
    )
    # Reads and refused requests never touch /2: the first user write is still index 4.
    resp = await raw_request(client, "PUT", "/v2/keys/a?value=1")
    assert resp.headers["X-Etcd-Index"] == "4"


async def test_methods_paths_and_capability(
    client: TestClient, server: EtcdServer, monkeypatch
) -> None:
    cases = [
        ("HEAD", "/v2/auth/users/a", "GET,PUT,DELETE"),
        ("POST", "/v2/auth/roles", "GET"),
        ("PATCH", "/v2/auth/enable", "GET,PUT,DELETE"),
    ]
    for method, target, allow in cases:
        resp = await raw_request(client, method, target)
        assert (resp.status, resp.headers["Allow"]) == (405, allow)
    assert await call(client, "GET", "/v2/auth/roles/a/b") == (400, b'{"message":"Invalid path"}')
    for target in ("/v2/auth", "/v2/auth/enable/", "/v2/auth/usersx"):
        assert (await call(client, "GET", target))[0] == 404
    monkeypatch.setattr(server, "cluster_version", lambda: None)
    assert await call(client, "GET", "/v2/auth/users") == (
        500,
        b'{"message":"Not capable of accessing auth feature during rolling upgrades."}',
    )


async def test_users(client: TestClient, server: EtcdServer) -> None:
    assert await call(client, "PUT", "/v2/auth/users/zed", {"user": "zed"}) == (
        400,
        b'{"message":"auth: Cannot create user zed with an empty password"}',
    )
    assert server.store.index == 3
    assert await call(client, "DELETE", "/v2/auth/users/nope") == (
        404,
        b'{"message":"auth: User nope does not exist"}',
    )
    assert server.store.index == 7  # the auth namespace was created: +4
    zed = {"user": "zed", "password": "p"}
    assert await call(client, "PUT", "/v2/auth/users/zed", zed) == (
        201,
        b'{"user":"zed","roles":null}\n',
    )
    assert server.store.index == 8
    assert await call(client, "PUT", "/v2/auth/users/zed", zed) == (
        200,
        b'{"user":"zed","roles":[]}\n',
    )
    assert await call(client, "PUT", "/v2/auth/users/zed", {"user": "zed"}) == (
        400,
        b'{"message":"auth: User not updated. Use grant/revoke/password to update the user."}',
    )
    grant = {"user": "zed", "grant": ["nope"]}
    assert await call(client, "PUT", "/v2/auth/users/zed", grant) == (
        200,
        b'{"user":"zed","roles":["nope"]}\n',
    )
    assert await call(client, "PUT", "/v2/auth/users/zed", grant) == (
        409,
        b'{"message":"auth: Granting duplicate role nope for user zed"}',
    )
    assert await call(client, "PUT", "/v2/auth/users/zed", {"user": "zed", "revoke": ["x"]}) == (
        409,
        b'{"message":"auth: Revoking ungranted role x for user zed"}',
    )
    assert await call(client, "GET", "/v2/auth/users/zed") == (
        404,
        b'{"message":"auth: Role nope does not exist."}',
    )
    assert await call(client, "GET", "/v2/auth/users") == (200, b'{"users":[{"user":"zed"}]}\n')
    bob = {"user": "bob", "roles": ["b", "a"], "password": "x"}
    assert await call(client, "PUT", "/v2/auth/users/bob", bob) == (
        200,
        b'{"user":"bob","roles":["b","a"]}\n',
    )
    assert await call(client, "PUT", "/v2/auth/users/bob", bob) == (
        409,
        b'{"message":"auth: User bob already exists."}',
    )
    both = {"user": "bob", "roles": ["a"], "grant": ["a"]}
    assert await call(client, "PUT", "/v2/auth/users/bob", both) == (
        400,
        b'{"message":"User JSON contains both roles and grant/revoke"}',
    )
    assert await call(client, "PUT", "/v2/auth/users/new", {"user": "new", "grant": ["a"]}) == (
        404,
        b'{"message":"auth: User new does not exist."}',
    )
    mismatch = b'{"message":"User JSON name does not match the name in the URL"}'
    assert await call(client, "PUT", "/v2/auth/users/bob", {"user": "zed"}) == (400, mismatch)
    assert await call(client, "PUT", "/v2/auth/users/bob", "null") == (400, mismatch)
    for bad in ("", "[]", '{"user":"bob","password":5}', '{"user":'):
        assert await call(client, "PUT", "/v2/auth/users/bob", bad) == (
            400,
            b'{"message":"Invalid JSON in request body."}',
        )
    folded = '{"User":"new","Password":"x"} trailing'
    assert await call(client, "PUT", "/v2/auth/users/new", folded) == (
        201,
        b'{"user":"new","roles":null}\n',
    )
    assert await call(client, "DELETE", "/v2/auth/users/new") == (200, b"")
    assert server.store.auth_names("/users") == ["bob", "zed"]


async def test_roles(client: TestClient, server: EtcdServer) -> None:
    url = "/v2/auth/roles/r2"
    created = {"role": "r2", "permissions": {"kv": {"read": ["/b", "/a/*", "/a/*"]}}}
    assert await call(client, "PUT", url, created) == (
        201,
        b'{"role":"r2","permissions":{"kv":{"read":["/b","/a/*","/a/*"],"write":null}}}\n',
    )
    assert server.store.index == 8
    assert await call(client, "PUT", url, created) == (
        409,
        b'{"message":"auth: Role r2 already exists."}',
    )
    grant = {"role": "r2", "grant": {"kv": {"write": ["/w"]}}}
    assert await call(client, "PUT", url, grant) == (
        200,
        b'{"role":"r2","permissions":{"kv":{"read":["/a/*","/b"],"write":["/w"]}}}\n',
    )
    assert await call(client, "PUT", url, grant) == (
        409,
        b'{"message":"auth: Granting duplicate write permission /w"}',
    )
    assert await call(client, "PUT", url, {"role": "r2", "revoke": {"kv": {"write": ["/z"]}}}) == (
        400,
        b'{"message":"auth: Role not updated. Use grant/revoke to update the role."}',
    )
    assert await call(client, "PUT", url, {"role": "r2", "revoke": {"kv": {"write": ["/w"]}}}) == (
        200,
        b'{"role":"r2","permissions":{"kv":{"read":["/a/*","/b"],"write":[]}}}\n',
    )
    mixed = {
        "role": "r2",
        "revoke": {"kv": {"read": ["/b"]}},
        "permissions": created["permissions"],
    }
    assert await call(client, "PUT", url, mixed) == (
        400,
        b'{"message":"Role JSON contains both permissions and grant/revoke"}',
    )
    assert await call(client, "PUT", url, {"role": "r3"}) == (
        400,
        b'{"message":"Role JSON name does not match the name in the URL"}',
    )
    is_root = b'{"message":"auth: Cannot modify role root: is root role."}'
    assert await call(client, "PUT", "/v2/auth/roles/root", {"role": "root"}) == (403, is_root)
    assert await call(client, "DELETE", "/v2/auth/roles/root") == (403, is_root)
    assert await call(client, "PUT", "/v2/auth/roles/q", '{"role":"q","grant":{}}') == (
        201,
        b'{"role":"q","permissions":{"kv":{"read":null,"write":null}},'
        b'"grant":{"kv":{"read":null,"write":null}}}\n',
    )
    assert await call(
        client, "PUT", "/v2/auth/roles/no", {"role": "no", "grant": grant["grant"]}
    ) == (
        404,
        b'{"message":"auth: Role no does not exist."}',
    )
    assert await call(client, "DELETE", "/v2/auth/roles/no") == (
        404,
        b'{"message":"auth: Role no doesn\'t exist."}',
    )
    assert await call(client, "DELETE", "/v2/auth/roles/q") == (200, b"")
    status, body = await call(client, "GET", "/v2/auth/roles")
    assert status == 200
    assert [r["role"] for r in json.loads(body)["roles"]] == ["r2", "root"]


async def test_enabled_auth_on_keys_and_management(client: TestClient, server: EtcdServer) -> None:
    await enable_with_root(client)
    assert server.store.index == 10  # +4 namespace, root, guest role, enabled
    assert await call(client, "PUT", "/v2/auth/enable", headers=ROOT) == (
        409,
        b'{"message":"auth: already enabled"}',
    )
    assert await call(client, "GET", "/v2/auth/enable") == (200, b'{"enabled":true}\n')
    for headers in (
        None,
        basic("root", "bad"),
        basic("nobody", "pw"),
        {"Authorization": "Bearer x"},
    ):
        resp = await raw_request(client, "GET", "/v2/auth/users", headers=headers)
        assert (resp.status, resp.body) == (401, NO_AUTH)
        assert "X-Etcd-Cluster-Id" not in resp.headers
    for target in ("/v2/keys/a", "/v2/keys/a?wait=true"):
        resp = await raw_request(client, "GET", target, headers=basic("root", "bad"))
        assert (resp.status, resp.body, resp.headers["X-Etcd-Index"]) == (401, E110, "0")
    # Parameter errors come before the auth check.
    assert (await call(client, "PUT", "/v2/keys/a?ttl=x", headers=basic("root", "bad")))[0] == 400
    assert (await call(client, "PUT", "/v2/keys/a?value=1", headers=ROOT))[0] == 201
    # No Authorization (or an empty one): the guest role, which is open by default.
    assert (await call(client, "GET", "/v2/keys/a"))[0] == 200
    assert (await call(client, "GET", "/v2/keys/a", headers={"Authorization": ""}))[0] == 200
    assert await call(client, "DELETE", "/v2/auth/users/root", headers=ROOT) == (
        403,
        b'{"message":"auth: Cannot delete root user while auth is enabled."}',
    )
    assert await call(client, "DELETE", "/v2/auth/roles/guest", headers=ROOT) == (200, b"")
    assert await call(client, "GET", "/v2/keys/a") == (401, E110)
    # Members: reads stay open, changes need root.
    assert (await call(client, "GET", "/v2/members"))[0] == 200
    resp = await raw_request(client, "DELETE", "/v2/members/1")
    assert (resp.status, resp.body) == (401, NO_AUTH)
    assert "X-Etcd-Cluster-Id" not in resp.headers
    assert (await call(client, "DELETE", "/v2/members/1", headers=ROOT))[0] == 404
    assert await call(client, "DELETE", "/v2/auth/enable", headers=ROOT) == (200, b"")
    assert (await call(client, "GET", "/v2/keys/a"))[0] == 200


async def test_permissions_and_password_change(client: TestClient, server: EtcdServer) -> None:
    guest = {"role": "guest", "permissions": {"kv": {"read": ["/pub/*", "/one"], "write": []}}}
    assert (await call(client, "PUT", "/v2/auth/roles/guest", guest))[0] == 201
    reader = {"role": "reader", "permissions": {"kv": {"read": ["/one"], "write": ["/w/*"]}}}
    assert (await call(client, "PUT", "/v2/auth/roles/reader", reader))[0] == 201
    zed = {"user": "zed", "password": "p", "roles": ["reader", "missing"]}
    assert (await call(client, "PUT", "/v2/auth/users/zed", zed))[0] == 200
    await enable_with_root(client)
    zed_auth = basic("zed", "p")
    cases = [
        ("GET", "/v2/keys/one", None, 404),
        ("GET", "/v2/keys/one/", None, 401),
        ("GET", "/v2/keys/pub", None, 401),
        ("GET", "/v2/keys/pub/", None, 404),
        ("GET", "/v2/keys/pub/?recursive=true", None, 404),
        ("PUT", "/v2/keys/pub/x?value=1", None, 401),
        ("GET", "/v2/keys", None, 401),
        ("GET", "/v2/keys/one", zed_auth, 404),
        ("GET", "/v2/keys/one?recursive=true", zed_auth, 401),
        ("PUT", "/v2/keys/w/x?value=1", zed_auth, 201),
        ("DELETE", "/v2/keys/w?recursive=true", zed_auth, 401),
        ("DELETE", "/v2/keys/w/?recursive=true", zed_auth, 200),
        ("PUT", "/v2/keys/one?value=1", zed_auth, 401),
        ("GET", "/v2/keys", ROOT, 200),
        ("GET", "/v2/keys?recursive=true", ROOT, 200),
    ]
    for method, target, headers, status in cases:
        assert (await call(client, method, target, headers=headers))[0] == status, target
    assert (await call(client, "GET", "/v2/auth/users", headers=zed_auth))[0] == 401
    change = {"user": "root", "password": "pw2"}
    assert await call(client, "PUT", "/v2/auth/users/root", change, ROOT) == (
        200,
        b'{"user":"root","roles":["root"]}\n',
    )
    assert (await call(client, "GET", "/v2/keys", headers=ROOT))[0] == 401
    assert (await call(client, "GET", "/v2/keys", headers=basic("root", "pw2")))[0] == 200


async def test_client_certificate_user(server: EtcdServer) -> None:
    """`cert_user` names the user of a request without Authorization (no password check)."""
    names: dict[str, str | None] = {"name": None}

    def cert_user(request: web.Request) -> str | None:
        return names["name"]

    async with TestClient(TestServer(make_app(server, cert_user=cert_user))) as client:
        await enable_with_root(client)
        assert await call(client, "DELETE", "/v2/auth/roles/guest", headers=ROOT) == (200, b"")
        assert (await call(client, "GET", "/v2/auth/users"))[0] == 401
        assert (await call(client, "GET", "/v2/keys/a"))[0] == 401
        names["name"] = "root"
        assert (await call(client, "GET", "/v2/auth/users"))[0] == 200
        assert (await call(client, "GET", "/v2/keys/a"))[0] == 404
        # An Authorization header wins over the certificate.
        assert (await call(client, "GET", "/v2/keys/a", headers=basic("root", "x")))[0] == 401
        names["name"] = "nobody"
        assert (await call(client, "GET", "/v2/auth/users"))[0] == 401


async def test_verified_credentials_are_cached(client: TestClient, monkeypatch) -> None:
    await enable_with_root(client)
    calls = []
    real = asyncio.to_thread

    async def counting(func, *args):
        calls.append(func.__name__)
        return await real(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    for _ in range(3):
        assert (await call(client, "GET", "/v2/keys/a", headers=ROOT))[0] == 404
    assert calls == ["check_password"]
    assert (await call(client, "GET", "/v2/keys/a", headers=basic("root", "bad")))[0] == 401
    assert (await call(client, "GET", "/v2/keys/a", headers=basic("root", "bad")))[0] == 401
    assert calls == ["check_password"] * 3
    # Undecodable bytes in credentials, names that are no user record: plain refusals.
    odd = {"Authorization": "Basic " + base64.b64encode(b"root:\xff\xfe").decode()}
    assert (await call(client, "GET", "/v2/keys/a", headers=odd))[0] == 401
    for name in ("../enabled", "", "root/x"):
        assert (await call(client, "GET", "/v2/keys/a", headers=basic(name, "pw")))[0] == 401
    assert (await call(client, "GET", "/v2/keys/a", headers={"Authorization": "Basic !"}))[0] == 401


async def test_v3_paths_and_bad_escape(client: TestClient) -> None:
    for method in ("GET", "POST", "PUT"):
        resp = await raw_request(client, method, "/v3/kv/range")
        assert (resp.status, resp.body) == (404, b"Not Found\n")
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await raw_request(client, "GET", "/v3beta/x")).body == b"Not Found\n"
    assert (await raw_request(client, "GET", "/v3x")).body == b"404 page not found\n"
    resp = await raw_request(client, "GET", "/v3?a=b")
    assert (resp.status, resp.headers["Location"]) == (301, "/v3/?a=b")
    # After `400 Bad Request` for a malformed escape the connection is closed.
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    request = (
        b"GET /v2/keys/a%zz HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/keys HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\n400 Bad Request")
    assert data.count(b"HTTP/1.1") == 1
