"""v2 auth: who a request is (Basic auth, client-certificate CN, or guest), what it may touch,
and the `/v2/auth/*` management endpoints, with etcd 3.4's checks, order and messages.

Auth data lives in the store under `/2`; reads use the local store (quorum reads wait for
`linearizable_read`), writes are `AuthSet`/`AuthDelete` commands proposed through the server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from http_api.form import read_at_most
from http_api.gojson import decode, error_body, quote
from http_api.protocol import KeysServer
from http_api.responses import Headers, json_body, message, method_not_allowed
from store import auth
from store.auth import (
    ENABLED,
    GUEST,
    GUEST_ROLE,
    ROLES,
    ROOT,
    ROOT_ROLE,
    USERS,
    AuthError,
    BadRecord,
    Names,
    Permissions,
    Role,
    User,
)
from store.commands import AuthDelete, AuthSet
from store.errors import KEY_NOT_FOUND, NODE_EXIST, RAFT_INTERNAL, EtcdError
from store.store import clean_path

log = logging.getLogger("v2auth")

PREFIX = "/v2/auth"
NO_AUTH = "Insufficient credentials"
_BASE_METHODS = "GET"
_ITEM_METHODS = ("GET", "PUT", "DELETE")
_MAX_BODY = 10 << 20
_CACHE_LIMIT = 1024
_BASIC = "basic "

CertUser = Callable[[web.Request], str | None]


class _BadJSON(ValueError):
    """A body Go's `json.Decoder` refuses for the target struct."""


@dataclass(frozen=True, slots=True)
class UserRequest:
    """The body of `PUT /v2/auth/users/<name>` (etcd's `User` as decoded)."""

    name: str = ""
    password: str = ""
    roles: Names = None
    grant: Names = None
    revoke: Names = None


@dataclass(frozen=True, slots=True)
class RoleRequest:
    """The body of `PUT /v2/auth/roles/<name>`; `grant`/`revoke` None when absent or null."""

    name: str = ""
    permissions: Permissions = field(default_factory=Permissions)
    grant: Permissions | None = None
    revoke: Permissions | None = None


def _reject_constant(name: str) -> object:
    raise _BadJSON(name)


def _first_value(body: bytes) -> object:
    """`json.Decoder.Decode`: the first JSON value; whatever follows it is not read."""
    text = decode(body).lstrip(" \t\r\n")
    try:
        value, _ = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text)
    except (json.JSONDecodeError, RecursionError):
        raise _BadJSON("syntax") from None
    return value


def _fields(value: object, names: tuple[str, ...]) -> dict[str, object]:
    """Go struct decoding: case-insensitive names, the last occurrence wins, null is absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BadJSON("not an object")
    wanted = {name.lower(): name for name in names}
    out: dict[str, object] = {}
    for key, item in value.items():
        name = wanted.get(key.lower())
        if name is not None:
            out[name] = item
    return {name: item for name, item in out.items() if item is not None}


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _BadJSON("not a string")
    return value


def _name_list(value: object | None) -> Names:
    if value is None:
        return None
    if not isinstance(value, list) or not all(v is None or isinstance(v, str) for v in value):
        raise _BadJSON("not a string list")
    return tuple(v or "" for v in value)


def _permissions(value: object) -> Permissions:
    kv = _fields(_fields(value, ("kv",)).get("kv"), ("read", "write"))
    return Permissions(_name_list(kv.get("read")), _name_list(kv.get("write")))


def decode_user(body: bytes) -> UserRequest:
    """Raises _BadJSON."""
    fields = _fields(_first_value(body), ("user", "password", "roles", "grant", "revoke"))
    return UserRequest(
        _string(fields.get("user", "")),
        _string(fields.get("password", "")),
        _name_list(fields.get("roles")),
        _name_list(fields.get("grant")),
        _name_list(fields.get("revoke")),
    )


def decode_role(body: bytes) -> RoleRequest:
    """Raises _BadJSON."""
    fields = _fields(_first_value(body), ("role", "permissions", "grant", "revoke"))
    grant = fields.get("grant")
    revoke = fields.get("revoke")
    return RoleRequest(
        _string(fields.get("role", "")),
        _permissions(fields.get("permissions")),
        None if grant is None else _permissions(grant),
        None if revoke is None else _permissions(revoke),
    )


def _names_json(names: Names) -> str:
    return "null" if names is None else f"[{','.join(map(quote, names))}]"


def _permissions_json(perms: Permissions) -> str:
    return f'{{"kv":{{"read":{_names_json(perms.read)},"write":{_names_json(perms.write)}}}}}'


def role_json(
    role: Role, grant: Permissions | None = None, revoke: Permissions | None = None
) -> str:
    text = f'{{"role":{quote(role.name)},"permissions":{_permissions_json(role.permissions)}'
    if grant is not None:
        text += f',"grant":{_permissions_json(grant)}'
    if revoke is not None:
        text += f',"revoke":{_permissions_json(revoke)}'
    return text + "}"


def _user_json(user: User) -> str:
    """A PUT's answer: the password is blanked (omitted), roles as stored (null or list)."""
    return f'{{"user":{quote(user.name)},"roles":{_names_json(user.roles)}}}'


def _user_with_roles_json(name: str, roles: list[Role]) -> str:
    if not roles:
        return f'{{"user":{quote(name)}}}'
    return f'{{"user":{quote(name)},"roles":[{",".join(map(role_json, roles))}]}}'


def basic_credentials(header: str) -> tuple[str, str] | None:
    """Go's `Request.BasicAuth` over an `Authorization` value."""
    if len(header) < len(_BASIC) or header[: len(_BASIC)].lower() != _BASIC:
        return None
    try:
        raw = base64.b64decode(header[len(_BASIC) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    name, colon, password = decode(raw).partition(":")
    return (name, password) if colon else None


class Auth:
    """Identity and permission checks for one member's client listener.

    Verified credentials are remembered against the stored hash they matched, so a client
    that authenticates every request pays the KDF once per password change."""

    def __init__(self, server: KeysServer, cert_user: CertUser | None = None) -> None:
        self._server = server
        self._cert_user = cert_user
        self._verified: dict[tuple[str, bytes], str] = {}
        self._cache_key = secrets.token_bytes(32)

    def enabled(self) -> bool:
        return self._server.store.auth_enabled()

    def user(self, name: str) -> User | None:
        """etcd's `GetUser` on the local store; `root` always holds the root role."""
        record = self._server.store.auth_record(_resource(USERS, name))
        if record is None:
            return None
        try:
            user = auth.parse_user(record)
        except BadRecord:
            log.debug("no user record at %r", name)
            return None
        return auth.with_root_role(user) if user.name == ROOT else user

    def role(self, name: str) -> Role | None:
        if name == ROOT:
            return ROOT_ROLE
        record = self._server.store.auth_record(_resource(ROLES, name))
        if record is None:
            return None
        try:
            return auth.parse_role(record)
        except BadRecord:
            log.debug("no role record at %r", name)
            return None

    async def _password_ok(self, user: User, password: str) -> bool:
        secret = password.encode("utf-8", "surrogateescape")
        key = (user.name, hashlib.blake2b(secret, key=self._cache_key).digest())
        if self._verified.get(key) == user.password:
            return True
        ok = await asyncio.to_thread(auth.check_password, user.password, password)
        if ok:
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[key] = user.password
        return ok

    async def _basic_user(self, header: str) -> User | None:
        credentials = basic_credentials(header)
        if credentials is None:
            return None
        user = self.user(credentials[0])
        if user is None or not await self._password_ok(user, credentials[1]):
            return None
        return user

    def _certificate_user(self, request: web.Request) -> User | None:
        assert self._cert_user is not None
        name = self._cert_user(request)
        return None if name is None else self.user(name)

    async def key_access(self, request: web.Request, key: str, recursive: bool) -> bool:
        """etcd's `hasKeyPrefixAccess` once auth is on (callers check `enabled` first):
        `key` is the request path after `/v2/keys`, as sent."""
        write = request.method not in ("GET", "HEAD")
        header = request.headers.get("Authorization", "")
        if header:
            user = await self._basic_user(header)
            if user is None:
                return False
        else:
            user = self._certificate_user(request) if self._cert_user is not None else None
            if user is None:
                guest = self.role(GUEST)
                return guest is not None and auth.has_key_access(guest, key, write)
        check = auth.has_recursive_access if recursive else auth.has_key_access
        for name in user.roles or ():
            role = self.role(name)
            if role is not None and check(role, key, write):
                return True
        return False

    async def root_access(self, request: web.Request) -> bool:
        """etcd's `hasRootAccess`: true while auth is off, else a user holding `root`."""
        if not self.enabled():
            return True
        header = request.headers.get("Authorization", "")
        if not header and self._cert_user is not None:
            user = self._certificate_user(request)
        else:
            user = await self._basic_user(header)
        return user is not None and ROOT in (user.roles or ())

    async def write_root_access(self, request: web.Request) -> bool:
        """etcd's `hasWriteRootAccess`: reads are open to anyone."""
        return request.method in ("GET", "HEAD") or await self.root_access(request)


def _resource(directory: str, name: str) -> str:
    """`path.Join("/2", directory + "/" + name)` relative to `/2`: a name cannot leave it."""
    return clean_path(f"{directory}/{name}")


class AuthHandler:
    """`/v2/auth/enable`, `/v2/auth/users[/<name>]`, `/v2/auth/roles[/<name>]`."""

    def __init__(self, server: KeysServer, checks: Auth) -> None:
        self._server = server
        self._auth = checks
        self._cluster_id = f"{server.cluster_id:x}"

    async def handle(self, request: web.Request, path: str, cors: Headers) -> web.Response | None:
        """None when `path` is not an auth route (the caller answers 404)."""
        sub = path[len(PREFIX) :]
        if sub == "/enable":
            kind = "enable"
        elif sub in (USERS, ROLES) or sub.startswith((USERS + "/", ROLES + "/")):
            kind = sub[1:6]
        else:
            return None
        if self._server.cluster_version() is None:
            return message(
                500, "Not capable of accessing auth feature during rolling upgrades.", cors
            )
        if kind == "enable":
            return await self._enable(request, cors)
        pieces = clean_path(sub).split("/")
        if len(pieces) > 3:
            return message(400, "Invalid path", cors)
        name = pieces[2] if len(pieces) == 3 else None
        methods = _ITEM_METHODS if name is not None else (_BASE_METHODS,)
        if request.method not in methods:
            return method_not_allowed(cors, ",".join(methods))
        if not await self._auth.root_access(request):
            return message(401, NO_AUTH, cors)
        headers = {**cors, "X-Etcd-Cluster-Id": self._cluster_id}
        try:
            if kind == "users":
                return await self._users(request, name, headers)
            return await self._roles(request, name, headers)
        except AuthError as exc:
            return message(exc.status, exc.message, headers)
        except EtcdError as exc:
            return _store_error(exc, headers)
        except Exception:
            log.exception("auth request %s %s failed", request.method, request.raw_path)
            return message(500, "Internal Server Error", headers)

    # ------------------------------------------------------------------------- enable

    async def _enable(self, request: web.Request, cors: Headers) -> web.Response:
        if request.method not in _ITEM_METHODS:
            return method_not_allowed(cors, ",".join(_ITEM_METHODS))
        if not await self._auth.write_root_access(request):
            return message(401, NO_AUTH, cors)
        headers = {**cors, "X-Etcd-Cluster-Id": self._cluster_id}
        enabled = self._auth.enabled()
        try:
            if request.method == "GET":
                return _ok(200, f'{{"enabled":{"true" if enabled else "false"}}}', headers)
            if request.method == "PUT":
                await self._enable_auth(enabled)
            else:
                if not enabled:
                    raise AuthError(409, "already disabled")
                await self._propose(AuthSet(ENABLED, "false", True, self._server.now()))
        except AuthError as exc:
            return message(exc.status, exc.message, headers)
        except EtcdError as exc:
            return _store_error(exc, headers)
        except Exception:
            log.exception("auth request %s %s failed", request.method, request.raw_path)
            return message(500, "Internal Server Error", headers)
        return json_body(200, b"", headers)

    async def _enable_auth(self, enabled: bool) -> None:
        if enabled:
            raise AuthError(409, "already enabled")
        await self._server.linearizable_read()
        if self._auth.user(ROOT) is None:
            raise AuthError(409, "No root user available, please create one")
        if self._auth.role(GUEST) is None:
            await self._create_role(GUEST_ROLE)
        await self._propose(AuthSet(ENABLED, "true", True, self._server.now()))

    # -------------------------------------------------------------------------- users

    async def _users(
        self, request: web.Request, name: str | None, headers: Headers
    ) -> web.Response:
        if name is None:
            return _ok(200, self._users_json(), headers)
        if request.method == "GET":
            user = self._existing_user(name)
            roles = []
            for role_name in user.roles or ():
                role = self._auth.role(role_name)
                if role is None:
                    raise AuthError(404, f"Role {role_name} does not exist.")
                roles.append(role)
            return _ok(200, _user_with_roles_json(user.name, roles), headers)
        if request.method == "DELETE":
            if self._auth.enabled() and name == ROOT:
                raise AuthError(403, "Cannot delete root user while auth is enabled.")
            await self._delete(USERS, name, f"User {name} does not exist")
            return json_body(200, b"", headers)
        try:
            body = decode_user(await read_at_most(request.content, _MAX_BODY))
        except _BadJSON:
            return message(400, "Invalid JSON in request body.", headers)
        if body.name != name:
            return message(400, "User JSON name does not match the name in the URL", headers)
        status = 200
        if not body.grant and not body.revoke:
            if body.roles:
                out = await self._create_user(body)
            else:
                await self._server.linearizable_read()
                if self._auth.user(name) is not None:
                    out = await self._update_user(body)
                else:
                    out = await self._create_user(body)
                    status = 201
        elif body.roles:
            return message(400, "User JSON contains both roles and grant/revoke", headers)
        else:
            out = await self._update_user(body)
        return _ok(status, _user_json(out), headers)

    def _users_json(self) -> str:
        entries = []
        for name in self._server.store.auth_names(USERS):
            user = self._existing_user(name)
            roles = [r for r in map(self._auth.role, user.roles or ()) if r is not None]
            entries.append(_user_with_roles_json(user.name, roles))
        listing = f"[{','.join(entries)}]" if entries else "null"
        return f'{{"users":{listing}}}'

    def _existing_user(self, name: str) -> User:
        user = self._auth.user(name)
        if user is None:
            raise AuthError(404, f"User {name} does not exist.")
        return user

    async def _create_user(self, body: UserRequest) -> User:
        roles = body.roles
        if body.name == ROOT:
            roles = auth.with_root_role(User(ROOT, "", roles)).roles
        if not body.password:
            raise AuthError(400, f"Cannot create user {body.name} with an empty password")
        user = User(body.name, await _hash(body.password), roles)
        await self._create(
            USERS, user.name, auth.user_record(user), f"User {user.name} already exists."
        )
        return user

    async def _update_user(self, body: UserRequest) -> User:
        await self._server.linearizable_read()
        old = self._existing_user(body.name)
        password_hash = await _hash(body.password) if body.password else ""
        new = auth.merge_user(old, password_hash, body.grant, body.revoke)
        if new == old:
            raise AuthError(400, "User not updated. Use grant/revoke/password to update the user.")
        record = auth.user_record(new)
        await self._propose(AuthSet(_resource(USERS, new.name), record, True, self._server.now()))
        return new

    # -------------------------------------------------------------------------- roles

    async def _roles(
        self, request: web.Request, name: str | None, headers: Headers
    ) -> web.Response:
        if name is None:
            names = sorted([ROOT, *self._server.store.auth_names(ROLES)])
            roles = [r for r in map(self._auth.role, names) if r is not None]
            return _ok(200, f'{{"roles":[{",".join(map(role_json, roles))}]}}', headers)
        if request.method == "GET":
            return _ok(200, role_json(self._existing_role(name)), headers)
        if name == ROOT:
            raise AuthError(403, f"Cannot modify role {name}: is root role.")
        if request.method == "DELETE":
            await self._delete(ROLES, name, f"Role {name} doesn't exist.")
            return json_body(200, b"", headers)
        try:
            body = decode_role(await read_at_most(request.content, _MAX_BODY))
        except _BadJSON:
            return message(400, "Invalid JSON in request body.", headers)
        if body.name != name:
            return message(400, "Role JSON name does not match the name in the URL", headers)
        no_grant = body.grant is None or body.grant.is_empty()
        no_revoke = body.revoke is None or body.revoke.is_empty()
        if no_grant and no_revoke:
            await self._create_role(Role(name, body.permissions))
            return _ok(
                201, role_json(Role(name, body.permissions), body.grant, body.revoke), headers
            )
        if not body.permissions.is_empty():
            return message(400, "Role JSON contains both permissions and grant/revoke", headers)
        await self._server.linearizable_read()
        old = self._existing_role(name)
        new = auth.merge_role(old, body.grant, body.revoke)
        if new == old:
            raise AuthError(400, "Role not updated. Use grant/revoke to update the role.")
        record = auth.role_record(new)
        await self._propose(AuthSet(_resource(ROLES, name), record, True, self._server.now()))
        return _ok(200, role_json(new), headers)

    def _existing_role(self, name: str) -> Role:
        role = self._auth.role(name)
        if role is None:
            raise AuthError(404, f"Role {name} does not exist.")
        return role

    async def _create_role(self, role: Role) -> None:
        if role.name == ROOT:
            raise AuthError(403, f"Cannot modify role {role.name}: is root role.")
        await self._create(
            ROLES, role.name, auth.role_record(role), f"Role {role.name} already exists."
        )

    async def _propose(self, cmd: AuthSet | AuthDelete) -> None:
        await asyncio.shield(self._server.propose(cmd))

    async def _create(self, directory: str, name: str, record: str, exists: str) -> None:
        """Write a new user or role record; an existing one is etcd's 409 with `exists`."""
        cmd = AuthSet(_resource(directory, name), record, False, self._server.now())
        try:
            await self._propose(cmd)
        except EtcdError as exc:
            if exc.code == NODE_EXIST:
                raise AuthError(409, exists) from None
            raise

    async def _delete(self, directory: str, name: str, missing: str) -> None:
        """Remove a user or role record; a missing one is etcd's 404 with `missing`."""
        try:
            await self._propose(AuthDelete(_resource(directory, name), self._server.now()))
        except EtcdError as exc:
            if exc.code == KEY_NOT_FOUND:
                raise AuthError(404, missing) from None
            raise


async def _hash(password: str) -> str:
    """The KDF runs off the event loop; the salt is drawn here, on the receiving member."""
    return await asyncio.to_thread(auth.hash_password, password, secrets.token_bytes(16))


def _ok(status: int, text: str, headers: Headers) -> web.Response:
    """`json.Encoder.Encode`: the value and a newline."""
    return json_body(status, (text + "\n").encode(), headers)


def _store_error(exc: EtcdError, headers: Headers) -> web.Response:
    """etcd's `writeError`: raft failures are a bare 500, store errors their v2 error body."""
    if exc.code == RAFT_INTERNAL:
        return message(500, "Internal Server Error", headers)
    out = {**headers, "X-Etcd-Index": str(exc.index)}
    return json_body(exc.status, error_body(exc.code, exc.message, exc.cause, exc.index), out)
