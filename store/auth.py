"""v2 auth records (users and roles under `/2`) and the rules etcd's v2auth applies to them.

Name lists keep Go's nil/empty distinction (`None` is JSON `null`, `()` is `[]`) because etcd's
responses show it and its "not updated" check compares them. Password hashes are computed by
the caller (salt is random) and travel inside store commands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from functools import lru_cache

import bcrypt

ROOT = "root"
GUEST = "guest"
USERS = "/users"
ROLES = "/roles"
ENABLED = "/enabled"

# scrypt's interactive parameters: ~16 MiB and tens of milliseconds per check.
_SCRYPT_N = 1 << 14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 << 20
_HASH_BYTES = 32
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72

Names = tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Permissions:
    read: Names = None
    write: Names = None

    def is_empty(self) -> bool:
        return not self.read and not self.write


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str = ""
    roles: Names = None


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    permissions: Permissions = field(default_factory=Permissions)


ROOT_ROLE = Role(ROOT, Permissions(("/*",), ("/*",)))
GUEST_ROLE = Role(GUEST, Permissions(("/*",), ("/*",)))


class AuthError(Exception):
    """etcd's `auth.Error`: an HTTP status and a message starting with `auth: `."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.message = f"auth: {text}"


class BadRecord(ValueError):
    """A `/2` value that is not the record it should be."""


def _names(value: object) -> Names:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRecord(f"not a name list: {value!r}")
    return tuple(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"not a string: {value!r}")
    return value


def user_path(name: str) -> str:
    return f"{USERS}/{name}"


def role_path(name: str) -> str:
    return f"{ROLES}/{name}"


def user_record(user: User) -> str:
    roles = None if user.roles is None else list(user.roles)
    return json.dumps({"user": user.name, "password": user.password, "roles": roles})


@lru_cache(maxsize=1024)
def parse_user(record: str) -> User:
    """Raises BadRecord. Cached: an authenticated request parses its user on every call."""
    try:
        data = json.loads(record)
        return User(_text(data["user"]), _text(data["password"]), _names(data["roles"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise BadRecord(f"bad user record: {exc}") from None


def role_record(role: Role) -> str:
    perms = role.permissions
    kv = {
        "read": None if perms.read is None else list(perms.read),
        "write": None if perms.write is None else list(perms.write),
    }
    return json.dumps({"role": role.name, "permissions": {"kv": kv}})


@lru_cache(maxsize=1024)
def parse_role(record: str) -> Role:
    """Raises BadRecord."""
    try:
        data = json.loads(record)
        kv = data["permissions"]["kv"]
        return Role(_text(data["role"]), Permissions(_names(kv["read"]), _names(kv["write"])))
    except (ValueError, TypeError, KeyError) as exc:
        raise BadRecord(f"bad role record: {exc}") from None


def with_root_role(user: User) -> User:
    """The `root` user always holds the root role, whatever its record says."""
    roles = user.roles or ()
    if ROOT in roles:
        return user
    return User(user.name, user.password, (*roles, ROOT))


def merge_user(old: User, password_hash: str, grant: Names, revoke: Names) -> User:
    """Grants then revokes on a set of roles (sorted, `[]` when empty); raises AuthError 409."""
    roles = set(old.roles or ())
    for name in grant or ():
        if name in roles:
            raise AuthError(409, f"Granting duplicate role {name} for user {old.name}")
        roles.add(name)
    for name in revoke or ():
        if name not in roles:
            raise AuthError(409, f"Revoking ungranted role {name} for user {old.name}")
        roles.remove(name)
    return User(old.name, password_hash or old.password, tuple(sorted(roles)))


def merge_role(old: Role, grant: Permissions | None, revoke: Permissions | None) -> Role:
    """Absent grant/revoke keep the lists as stored; present ones make them sorted sets.
    A duplicate grant is a 409; revoking what is not granted is ignored."""
    perms = old.permissions
    if grant is not None:
        perms = Permissions(
            _granted(perms.read, grant.read, "read"), _granted(perms.write, grant.write, "write")
        )
    if revoke is not None:
        perms = Permissions(_revoked(perms.read, revoke.read), _revoked(perms.write, revoke.write))
    return Role(old.name, perms)


def _granted(current: Names, added: Names, kind: str) -> tuple[str, ...]:
    out = set(current or ())
    for pattern in added or ():
        if pattern in out:
            raise AuthError(409, f"Granting duplicate {kind} permission {pattern}")
        out.add(pattern)
    return tuple(sorted(out))


def _revoked(current: Names, removed: Names) -> tuple[str, ...]:
    return tuple(sorted(set(current or ()) - set(removed or ())))


def has_key_access(role: Role, key: str, write: bool) -> bool:
    """A pattern ending in `*` matches by prefix, any other exactly; root matches anything."""
    if role.name == ROOT:
        return True
    perms = role.permissions
    for pattern in (perms.write if write else perms.read) or ():
        if pattern.endswith("*"):
            if key.startswith(pattern[:-1]):
                return True
        elif key == pattern:
            return True
    return False


def has_recursive_access(role: Role, key: str, write: bool) -> bool:
    """A recursive request needs a prefix (`*`) pattern."""
    if role.name == ROOT:
        return True
    perms = role.permissions
    patterns = (perms.write if write else perms.read) or ()
    return any(p.endswith("*") and key.startswith(p[:-1]) for p in patterns)


def hash_password(password: str, salt: bytes) -> str:
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(stored: str, password: str) -> bool:
    """False for a wrong password or a hash this version cannot read. etcd's bcrypt hashes
    (users imported from etcd by `pyetcd-admin import-etcd`) are checked as etcd checks them."""
    if stored.startswith(_BCRYPT_PREFIXES):
        return _bcrypt_ok(stored, password)
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _bcrypt_ok(stored: str, password: str) -> bool:
    # Go's bcrypt (etcd 3.4's) reads at most 72 bytes of the password.
    secret = password.encode("utf-8", "surrogateescape")[:_BCRYPT_MAX_BYTES]
    try:
        return bcrypt.checkpw(secret, stored.encode("ascii"))
    except ValueError:
        return False


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    secret = password.encode("utf-8", "surrogateescape")
    return hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=_HASH_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
