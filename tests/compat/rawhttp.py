"""A deliberately dumb HTTP/1.1 client: sends the request target byte-for-byte.

Ordinary clients clean paths, re-escape `%zz` or refuse odd methods, which would hide exactly
the behaviours the compat suite probes. One connection per request (`Connection: close`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

NO_BODY_STATUSES = frozenset({204, 304})


class NoResponse(Exception):
    """The server closed the connection or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    complete: bool  # False when a body read was cut short by its deadline (streams)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass(frozen=True, slots=True)
class Connection:
    authority: str  # host:port, sent as the Host header
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass(slots=True)
class PendingResponse:
    """A response whose status line and headers arrived; the body is still being read."""

    status: int
    headers: tuple[tuple[str, str], ...]
    conn: Connection
    method: str
    close: bool  # close the connection once the body is read (else keep it for the next request)

    async def finish(self, timeout: float, max_lines: int | None = None) -> Response:
        """Read the body until it ends, `max_lines` newlines were seen, or `timeout` passes."""
        chunks: list[bytes] = []
        complete = False
        try:
            complete = await asyncio.wait_for(self._read_body(chunks, max_lines), timeout)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            complete = False
        finally:
            if self.close or not complete:
                await self.conn.close()
        return Response(self.status, self.headers, b"".join(chunks), complete)

    async def _read_body(self, out: list[bytes], max_lines: int | None) -> bool:
        if self.method == "HEAD" or self.status in NO_BODY_STATUSES or self.status < 200:
            return True
        header = PendingResponse.header_of(self.headers, "transfer-encoding")
        if header is not None and "chunked" in header.lower():
            while True:
                size_line = await self.conn.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    await self.conn.reader.readuntil(b"\r\n")
                    return True
                out.append(await self.conn.reader.readexactly(size))
                await self.conn.reader.readexactly(2)
                if max_lines is not None and b"".join(out).count(b"\n") >= max_lines:
                    return False
        length = PendingResponse.header_of(self.headers, "content-length")
        if length is not None:
            out.append(await self.conn.reader.readexactly(int(length)))
            return True
        out.append(await self.conn.reader.read())
        return True

    @staticmethod
    def header_of(headers: Sequence[tuple[str, str]], name: str) -> str | None:
        return next((v for k, v in headers if k.lower() == name), None)


async def connect(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> Connection:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=16 * 1024 * 1024), timeout
        )
    except (OSError, TimeoutError) as exc:
        raise NoResponse(f"connect failed: {exc!r}") from exc
    return Connection(f"{host}:{port}", reader, writer)


async def send_on(
    conn: Connection,
    method: str,
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 5.0,
    close: bool = True,
) -> PendingResponse:
    """Send one request on `conn`; return once the status line and headers have been read.
    `Host` is the connection's address unless `headers` name another."""
    lines = [f"{method} {target} HTTP/1.1"]
    if not any(k.lower() == "host" for k, _ in headers):
        lines.append(f"Host: {conn.authority}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("PUT", "POST", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    try:
        conn.writer.write(head + body)
        await conn.writer.drain()
        status, parsed = await asyncio.wait_for(_read_head(conn.reader), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        conn.writer.close()
        raise NoResponse(f"no response head: {exc!r}") from exc
    return PendingResponse(status, parsed, conn, method, close)


async def send(
    port: int,
    method: str,
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 5.0,
) -> PendingResponse:
    """Send one request on a new connection that the response then closes."""
    conn = await connect(port, timeout)
    return await send_on(conn, method, target, headers=headers, body=body, timeout=timeout)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Status and headers of the final response (interim `100 Continue` heads are skipped)."""
    while True:
        status_line = (await reader.readuntil(b"\r\n")).decode("latin-1")
        status = int(status_line.split(" ", 2)[1])
        headers: list[tuple[str, str]] = []
        while True:
            line = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        if not 100 <= status < 200:
            return status, tuple(headers)


async def request(
    port: int,
    method: str,
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 5.0,
) -> Response:
    """One complete request/response exchange."""
    pending = await send(port, method, target, headers=headers, body=body, timeout=timeout)
    return await pending.finish(timeout)
