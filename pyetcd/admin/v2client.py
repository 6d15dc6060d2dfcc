"""A small asynchronous client of etcd's v2 keys API, for the operator tools: errors become
`AdminError` with one line that names the endpoint and etcd's own message."""

from __future__ import annotations

import json
import math
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from pyetcd.admin.keyspace import Delete, Node, Put, Write

KEY_NOT_FOUND = 100
NOT_A_FILE = 102
NODE_EXIST = 105
EVENT_INDEX_CLEARED = 401


class AdminError(Exception):
    """One line for the operator; `code` is etcd's errorCode when etcd answered with one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class TLSFiles:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def context(self) -> ssl.SSLContext | None:
        """A client context when any file is given (etcdctl's --ca-file/--cert-file/--key-file)."""
        if not (self.ca_file or self.cert_file or self.key_file):
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file or None)
            if self.cert_file or self.key_file:
                ctx.load_cert_chain(self.cert_file, self.key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise AdminError(f"cannot load TLS files: {exc}") from None
        return ctx


def _remaining(put: Put, age: float) -> str:
    """The TTL to write now: to the source's expiry when it gave one, else what was left when
    read less the time since (a key about to expire keeps one second, as etcd rounds up)."""
    if put.ttl is None:
        return ""
    left = put.ttl - age if put.expires_at is None else put.expires_at - time.time()
    return str(max(1, math.ceil(left)))


def key_url(base: str, key: str) -> str:
    return base.rstrip("/") + "/v2/keys" + quote(key, safe="/")


class V2Client:
    """One endpoint; `async with V2Client(url, tls) as c:`."""

    def __init__(self, base: str, tls: TLSFiles | None = None, timeout: float = 10.0) -> None:
        if not base.startswith(("http://", "https://")):
            raise AdminError(f"{base}: an endpoint is http:// or https:// followed by host:port")
        self.base = base.rstrip("/")
        self._ssl = (tls or TLSFiles()).context()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> V2Client:
        connector = aiohttp.TCPConnector(limit=64, ssl=self._ssl if self._ssl else True)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use V2Client as an async context manager"
        return self._session

    async def _call(
        self, method: str, key: str, params: Mapping[str, str], data: Mapping[str, str] | None
    ) -> tuple[dict[str, Any], int]:
        url = key_url(self.base, key)
        try:
            async with self.session.request(method, url, params=params, data=data) as resp:
                body = await resp.read()
                index = int(resp.headers.get("X-Etcd-Index", "0") or 0)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminError(f"{self.base}: {method} {key}: {exc or type(exc).__name__}") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise AdminError(f"{self.base}: {method} {key}: HTTP {status}, not JSON") from None
        if status >= 300:
            code = answer.get("errorCode") if isinstance(answer, dict) else None
            message = answer.get("message", "") if isinstance(answer, dict) else ""
            cause = answer.get("cause", "") if isinstance(answer, dict) else ""
            raise AdminError(
                f"{self.base}: {method} {key}: {message} ({cause})".replace(" ()", ""), code
            )
        return answer, index

    async def tree(self, key: str) -> tuple[Node | None, int]:
        """The subtree at `key`, read recursively and sorted, and the etcd index it reflects;
        None when the key does not exist."""
        try:
            answer, index = await self._call(
                "GET", key, {"recursive": "true", "sorted": "true", "quorum": "true"}, None
            )
        except AdminError as exc:
            if exc.code == KEY_NOT_FOUND:
                return None, 0
            raise
        return answer["node"], index

    async def index(self) -> int:
        _, index = await self._call("GET", "/", {}, None)
        return index

    async def apply(self, write: Write, age: float = 0.0) -> None:
        """Apply `write`, read `age` seconds ago: a TTL then has that much less to run."""
        if isinstance(write, Delete):
            params = {"recursive": "true"} if write.is_dir else {}
            try:
                await self._call("DELETE", write.key, params, None)
            except AdminError as exc:
                if exc.code != KEY_NOT_FOUND:
                    raise
            return
        await self._put(write, age)

    async def _put(self, put: Put, age: float) -> None:
        data = {"ttl": _remaining(put, age)}
        if not put.is_dir:
            data["value"] = put.value or ""
            await self._call("PUT", put.key, {}, data)
            return
        data["dir"] = "true"
        try:
            await self._call("PUT", put.key, {}, data)
        except AdminError as exc:
            if exc.code not in (NOT_A_FILE, NODE_EXIST):
                raise
            # The directory is there already: set its TTL (or clear it) in place.
            await self._call("PUT", put.key, {}, {**data, "prevExist": "true"})

    async def watch(self, key: str, wait_index: int) -> AsyncIterator[tuple[Node, int]]:
        """Events at `key` and below from `wait_index` on, with the source's etcd index when
        the stream opened; ends when the server ends the stream (its buffer overflowed) or
        after one event replayed from the history.
        Raises AdminError with EVENT_INDEX_CLEARED when the history no longer reaches back."""
        url = key_url(self.base, key)
        params = {
            "wait": "true", "recursive": "true", "stream": "true", "waitIndex": str(wait_index),
        }  # fmt: skip
        no_timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total)
        try:
            async with self.session.get(url, params=params, timeout=no_timeout) as resp:
                index = int(resp.headers.get("X-Etcd-Index", "0") or 0)
                if resp.status >= 300:
                    answer = json.loads(await resp.read())
                    raise AdminError(
                        f"{self.base}: watch {key}: {answer.get('message', resp.status)}",
                        answer.get("errorCode"),
                    )
                # A watch whose waitIndex the store has passed is answered from the event
                # history, and etcd then sends that one event and nothing more, even on a
                # stream: end it there, so the caller resumes after that event.
                from_history = index >= wait_index
                async for line in resp.content:
                    if line.strip():
                        yield json.loads(line), index
                        if from_history:
                            return
        except (aiohttp.ClientError, ValueError) as exc:
            raise AdminError(f"{self.base}: watch {key}: {exc or type(exc).__name__}") from None
