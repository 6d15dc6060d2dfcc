"""`GET /pyetcd/v1/snapshot`: a pyetcd extension serving a consistent snapshot file of the store
(for `pyetcd-admin snapshot save`). etcd's v2 API has no such endpoint.

The snapshot holds every key and the v2 auth records, so it is root's: with v2 auth on, only a
user holding the root role gets it; with `--client-cert-auth`, only a request carrying a verified
client certificate (a plain-http request on a port serving both schemes has none).
"""

from __future__ import annotations

from aiohttp import web

from http_api.auth import NO_AUTH, Auth
from http_api.protocol import KeysServer
from http_api.responses import Headers, message, method_not_allowed
from store.errors import EtcdError

PATH = "/pyetcd/v1/snapshot"
CONTENT_TYPE = "application/octet-stream"


def has_verified_certificate(request: web.BaseRequest) -> bool:
    transport = request.transport
    return bool(transport is not None and transport.get_extra_info("peercert"))


class SnapshotHandler:
    def __init__(self, server: KeysServer, auth: Auth, client_cert_auth: bool) -> None:
        self._server = server
        self._auth = auth
        self._client_cert_auth = client_cert_auth

    async def handle(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        if request.method != "GET":
            return method_not_allowed(cors, "GET")
        if self._client_cert_auth and not has_verified_certificate(request):
            return message(401, "a verified client certificate is required", cors)
        if not await self._auth.root_access(request):
            return message(401, NO_AUTH, cors)
        try:
            body = await self._server.snapshot()
        except EtcdError as exc:
            return message(503, f"{exc.message}: {exc.cause}" if exc.cause else exc.message, cors)
        headers = {
            **cors,
            "Content-Type": CONTENT_TYPE,
            "X-Etcd-Cluster-Id": format(self._server.cluster_id, "x"),
        }
        return web.Response(status=200, body=body, headers=headers)
