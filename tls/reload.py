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
from tls.contexts import CIPHERS_TLS12, TLSMaterialError, client_context, server_context
from tls.verify import NO_POLICY, CertPolicy, check_on_handshake, load_crl

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
    """Owns a set of certificate files and the last good context built from them, with the
    certificate policy (CRL serials, allowed CN or hostname) that goes with it."""

    def __init__(
        self,
        files: Sequence[str | None],
        build: Callable[[], ssl.SSLContext],
        check: Callable[[], list[str]],
        policy: CertPolicy = NO_POLICY,
        crl_file: str | None = None,
        crl_label: str = "CRL file",
    ) -> None:
        self.files = tuple(dict.fromkeys(f for f in (*files, crl_file) if f))
        self._build = build
        self._check = check
        self._base_policy = policy
        self._crl_file = crl_file
        self._crl_label = crl_label
        self._seen = _stamps(self.files)
        self._current, self._policy = self._load()
        self.reloads = 0
        self.refusals = 0

    @property
    def current(self) -> ssl.SSLContext:
        """The newest good context; dialers fetch it for every new connection."""
        return self._current

    @property
    def policy(self) -> CertPolicy:
        """The checks on the other side's certificate that go with `current`."""
        return self._policy

    def _load(self) -> tuple[ssl.SSLContext, CertPolicy]:
        problems = self._check()
        policy = self._base_policy
        if self._crl_file:
            try:
                revoked = load_crl(self._crl_file, self._crl_label)
            except TLSMaterialError as exc:
                problems = [*problems, *exc.problems]
            else:
                policy = CertPolicy(policy.allowed_cn, policy.allowed_hostname, revoked)
        if problems:
            raise TLSMaterialError(problems)
        return self._build(), policy

    def maybe_reload(self) -> bool:
        """Rebuild if any file changed; returns whether new material is now in use.

        Broken material is refused with one log line and not retried until the files change
        again; files that change while being read are retried on the next call.
        """
        stamps = _stamps(self.files)
        if stamps == self._seen:
            return False
        try:
            ctx, policy = self._load()
        except TLSMaterialError as exc:
            self._seen = stamps
            self.refusals += 1
            log.warning("tls: refused new certificate material, keeping the previous: %s", exc)
            return False
        if _stamps(self.files) != stamps:
            return False
        self._seen = stamps
        self._current, self._policy = ctx, policy
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
        ciphers: str = CIPHERS_TLS12,
        policy: CertPolicy = NO_POLICY,
        crl_file: str | None = None,
    ) -> None:
        super().__init__(
            (cert_file, key_file, trusted_ca_file),
            partial(
                server_context, cert_file, key_file, trusted_ca_file, client_cert_auth, ciphers
            ),
            partial(
                check_server_material, cert_file, key_file, trusted_ca_file, hosts, label=label
            ),
            policy,
            crl_file,
            f"{label} CRL file",
        )
        self.context = self._current
        self.context.sni_callback = self._select

    def _select(self, conn: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        conn.requested_name = server_name  # type: ignore[attr-defined]  # for refusal logs
        current = self._current
        if current is not ctx:
            conn.context = current


class ReloadingClientContext(ReloadingContext):
    """Dialer material; use `current` for each new connection. A handshake whose server
    certificate breaks `policy` fails (CRLs are a listener's business, as in etcd)."""

    def __init__(
        self,
        ca_file: str | None,
        cert_file: str | None = None,
        key_file: str | None = None,
        check_hostname: bool = True,
        *,
        label: str = "client",
        ciphers: str = CIPHERS_TLS12,
        verify: bool = True,
        policy: CertPolicy = NO_POLICY,
    ) -> None:
        super().__init__(
            (ca_file, cert_file, key_file),
            partial(self._make, ca_file, cert_file, key_file, check_hostname, ciphers, verify),
            partial(check_client_material, ca_file, cert_file, key_file, label=label),
            policy,
        )

    def _make(
        self,
        ca_file: str | None,
        cert_file: str | None,
        key_file: str | None,
        check_hostname: bool,
        ciphers: str,
        verify: bool,
    ) -> ssl.SSLContext:
        ctx = client_context(ca_file, cert_file, key_file, check_hostname, ciphers, verify)
        if not self._base_policy.empty:
            check_on_handshake(ctx, lambda: self._base_policy)
        return ctx
