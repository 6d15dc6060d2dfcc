"""A throwaway PKI written at test time (ECDSA P-256) and an echo server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from tls.authority import (
    KeySpec,
    PrivateKey,
    cert_pem,
    create_ca,
    create_csr,
    key_pem,
    parse_ips,
    sign_csr,
)

SERVICE = "etcd.service.cf.internal"
YEAR = dt.timedelta(days=365)
SPEC = KeySpec("ecdsa", 256)


@dataclass(frozen=True, slots=True)
class CA:
    name: str
    cert: Path
    key: PrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        return cert_pem(self.certificate)


@dataclass(frozen=True, slots=True)
class Leaf:
    cert: Path
    key: Path


class Pki:
    """Writes CAs and leaf certificates under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0

    def _stem(self, name: str) -> Path:
        """A fresh file stem per call, so tests sharing the session PKI never overwrite files."""
        self._count += 1
        return self.root / f"{self._count:03d}-{name.replace('*', '_')}"

    def ca(self, name: str, not_before: dt.datetime | None = None, life: dt.timedelta = YEAR) -> CA:
        key = SPEC.generate()
        ca = CA(name, Path(f"{self._stem(name)}.crt"), key, create_ca(key, name, life, not_before))
        ca.cert.write_bytes(ca.pem)
        return ca

    def leaf(
        self,
        ca: CA,
        name: str,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        life: dt.timedelta = YEAR,
    ) -> Leaf:
        key = SPEC.generate()
        csr = create_csr(key, name, dns, parse_ips(ips))
        cert = sign_csr(csr, ca.certificate, ca.key, life, not_before)
        stem = self._stem(name)
        leaf = Leaf(Path(f"{stem}.crt"), Path(f"{stem}.key"))
        leaf.cert.write_bytes(cert_pem(cert))
        leaf.key.write_bytes(key_pem(key))
        return leaf


@dataclass(frozen=True, slots=True)
class Material:
    ca: CA
    other_ca: CA
    bundle: Path
    server: Leaf
    client: Leaf
    peer: Leaf
    other_client: Leaf
    expired_client: Leaf
    expired_server: Leaf


@dataclass(slots=True)
class EchoServer:
    """Counts connections whose TLS handshake the server completed."""

    port: int = 0
    accepted: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        writer.close()
        self.handlers.discard(task)


@contextlib.asynccontextmanager
async def echo_server(ctx: ssl.SSLContext) -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    server = await asyncio.start_server(echo.echo, "127.0.0.1", 0, ssl=ctx)
    echo.port = server.sockets[0].getsockname()[1]
    try:
        yield echo
    finally:
        if echo.handlers:
            await asyncio.wait(echo.handlers, timeout=10)
        server.close()
        await server.wait_closed()


async def roundtrip(port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> str:
    """'ok' after a TLS echo round trip, else a short description of the failure."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host), 10
        )
    except (ssl.SSLError, ConnectionError) as exc:
        return f"handshake: {exc}"
    try:
        writer.write(b"ping")
        data = await asyncio.wait_for(reader.read(4), 10)
        return "ok" if data == b"ping" else f"read: {data!r}"
    except (ssl.SSLError, ConnectionError) as exc:
        return f"read: {exc}"
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
