"""Certificate reload without restart.

BOSH rewrites certificate files in place during a rotation deploy, so the daemon polls them
(`maybe_reload()` once a second and on SIGHUP). A listener keeps one stable `SSLContext` for
`asyncio.start_server` / aiohttp; its `sni_callback` runs at every handshake (with or without
SNI) and moves the connection onto the newest good context, so new connections get the new
material while established ones keep the session they negotiated. Dialers take `current` for
each new connection.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Sequence
from functools import partial

from tls.checks import check_client_material, check_server_material
from tls.contexts import TLSMaterialError, client_context, server_context

log = logging.getLogger(__name__)

FileStamp = tuple[int, int, int] | None


def _stamps(paths: Sequence[str]) -> tuple[FileStamp, ...]:
    """mtime, size and inode per file: a cheap change detector that also sees rename-over."""
    stamps: list[FileStamp] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamps)


class ReloadingContext:
    """Owns a set of certificate files and the last good context built from them."""

    def __init__(
        self,
        files: Sequence[str | None],
        build: Callable[[], ssl.SSLContext],
        check: Callable[[], list[str]],
    ) -> None:
        self.files = tuple(dict.fromkeys(f for f in files if f))
        self._build = build
        self._check = check
        self._seen = _stamps(self.files)
        self._current = self._load()
        self.reloads = 0
        self.refusals = 0

    @property
    def current(self) -> ssl.SSLContext:
        """The newest good context; dialers fetch it for every new connection."""
        return self._current

    def _load(self) -> ssl.SSLContext:
        problems = self._check()
        if problems:
            raise TLSMaterialError(problems)
        return self._build()

    def maybe_reload(self) -> bool:
        """Rebuild if any file changed; returns whether new material is now in use.

        Broken material is refused with one log line and not retried until the files change
        again; files that change while being read are retried on the next call.
        """
        stamps = _stamps(self.files)
        if stamps == self._seen:
            return False
        try:
            ctx = self._load()
        except TLSMaterialError as exc:
            self._seen = stamps
            self.refusals += 1
            log.warning("tls: refused new certificate material, keeping the previous: %s", exc)
            return False
        if _stamps(self.files) != stamps:
            return False
        self._seen = stamps
        self._current = ctx
        self.reloads += 1
        log.info("tls: loaded new certificate material from %s", ", ".join(self.files))
        return True


class ReloadingServerContext(ReloadingContext):
    """Listener material; pass `context` once to `asyncio.start_server(ssl=...)` or aiohttp."""

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        trusted_ca_file: str | None = None,
        client_cert_auth: bool = False,
        hosts: Sequence[str] = (),
        *,
        label: str = "server",
    ) -> None:
        super().__init__(
            (cert_file, key_file, trusted_ca_file),
            partial(server_context, cert_file, key_file, trusted_ca_file, client_cert_auth),
            partial(
                check_server_material, cert_file, key_file, trusted_ca_file, hosts, label=label
            ),
        )
        self.context = self._current
        self.context.sni_callback = self._select

    def _select(self, conn: ssl.SSLObject, _server_name: str | None, ctx: ssl.SSLContext) -> None:
        current = self._current
        if current is not ctx:
            conn.context = current


class ReloadingClientContext(ReloadingContext):
    """Dialer material; use `current` for each new connection."""

    def __init__(
        self,
        ca_file: str | None,
        cert_file: str | None = None,
        key_file: str | None = None,
        check_hostname: bool = True,
        *,
        label: str = "client",
    ) -> None:
        super().__init__(
            (ca_file, cert_file, key_file),
            partial(client_context, ca_file, cert_file, key_file, check_hostname),
            partial(check_client_material, ca_file, cert_file, key_file, label=label),
        )
