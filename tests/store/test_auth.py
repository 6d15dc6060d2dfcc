"""v2 auth in the store: the `/2` layout and its index accounting, the auth commands, snapshot
round trips, and the pure record rules (merge, permission matching, password hashes)."""

from __future__ import annotations

import pytest

from store import auth
from store.auth import AuthError, BadRecord, Permissions, Role, User
from store.commands import AuthDelete, AuthSet, decode_command, encode_command
from store.errors import KEY_NOT_FOUND, NODE_EXIST, EtcdError
from store.store import Store
from tests.store.util import boot, put

ROOT_USER = User("root", "hash", ("root",))


def _create_user(store: Store, user: User) -> None:
    store.apply(AuthSet(auth.user_path(user.name), auth.user_record(user), False, 0))


def test_commands_round_trip() -> None:
    for cmd in (AuthSet("/users/a", '{"x":1}', True, 7), AuthDelete("/roles/r", 9)):
        assert decode_command(encode_command(cmd)) == cmd


def test_first_auth_write_creates_the_namespace_plus_four() -> None:
    store = boot()
    assert (store.auth_enabled(), store.auth_names(auth.USERS)) == (False, [])
    event = store.apply(AuthSet("/users/root", auth.user_record(ROOT_USER), False, 0))
    assert event is not None and event.etcd_index == 8
    assert store.index == 8
    assert store.auth_record(auth.ENABLED) == "false"
    assert store.auth_names(auth.USERS) == ["root"]
    assert store.auth_names(auth.ROLES) == []
    assert auth.parse_user(store.auth_record("/users/root") or "") == ROOT_USER
    _create_user(store, User("bob", "h", None))
    assert store.index == 9
    assert put(store, "/k", "v").etcd_index == 10
    assert store.auth_names(auth.USERS) == ["bob", "root"]


def test_failed_auth_write_keeps_the_namespace_writes() -> None:
    """etcd creates the directories in their own proposals, before the failing write."""
    store = boot()
    with pytest.raises(EtcdError) as failure:
        store.apply(AuthDelete("/users/nope", 0))
    assert failure.value.code == KEY_NOT_FOUND
    assert store.index == 7
    with pytest.raises(EtcdError) as failure:
        store.apply(AuthSet("/roles/r", "{}", True, 0))
    assert failure.value.code == KEY_NOT_FOUND
    _create_user(store, ROOT_USER)
    with pytest.raises(EtcdError) as failure:
        _create_user(store, ROOT_USER)
    assert (failure.value.code, store.index) == (NODE_EXIST, 8)


def test_enable_update_and_delete() -> None:
    store = boot()
    _create_user(store, ROOT_USER)
    store.apply(AuthSet(auth.ENABLED, "true", True, 0))
    assert store.auth_enabled()
    store.apply(AuthDelete("/users/root", 0))
    assert store.auth_record("/users/root") is None
    assert store.index == 10
    assert not store.get("/").node.nodes


def test_resource_cannot_leave_the_auth_namespace() -> None:
    store = boot()
    store.apply(AuthSet("/../1/users/x", "v", False, 0))
    assert store.auth_record("/1/users/x") == "v"
    with pytest.raises(EtcdError):
        store.get("/users/x")


def test_snapshot_keeps_auth_data() -> None:
    store = boot()
    _create_user(store, ROOT_USER)
    store.apply(AuthSet(auth.ENABLED, "true", True, 0))
    restored = Store.restore(store.save())
    assert restored.index == store.index == 9
    assert restored.auth_enabled()
    assert restored.auth_record("/users/root") == store.auth_record("/users/root")
    assert restored.auth_names(auth.ROLES) == []


def test_records_round_trip_and_bad_records() -> None:
    role = Role("r", Permissions(("/a/*",), ()))
    assert auth.parse_role(auth.role_record(role)) == role
    assert auth.parse_role(auth.role_record(Role("e"))) == Role("e", Permissions(None, None))
    for bad in ("", "[]", '{"user":1,"password":"","roles":null}', '{"roles":[1]}'):
        with pytest.raises(BadRecord):
            auth.parse_user(bad)
    with pytest.raises(BadRecord):
        auth.parse_role('{"role":"r"}')


def test_root_user_always_holds_root() -> None:
    assert auth.with_root_role(User("root", "h", None)).roles == ("root",)
    assert auth.with_root_role(User("root", "h", ("b",))).roles == ("b", "root")
    assert auth.with_root_role(ROOT_USER) is ROOT_USER


def test_merge_user() -> None:
    old = User("u", "old", ("b", "a"))
    assert auth.merge_user(old, "", ("c",), ("a",)) == User("u", "old", ("b", "c"))
    assert auth.merge_user(User("u", "h", None), "", None, None).roles == ()
    assert auth.merge_user(old, "new", None, None).password == "new"
    with pytest.raises(AuthError) as failure:
        auth.merge_user(old, "", ("a",), None)
    assert (failure.value.status, failure.value.message) == (
        409,
        "auth: Granting duplicate role a for user u",
    )
    with pytest.raises(AuthError) as failure:
        auth.merge_user(old, "", None, ("z",))
    assert failure.value.message == "auth: Revoking ungranted role z for user u"


def test_merge_role() -> None:
    old = Role("r", Permissions(("/b", "/a", "/a"), None))
    assert auth.merge_role(old, None, None) == old
    granted = auth.merge_role(old, Permissions(None, ("/w",)), None)
    assert granted.permissions == Permissions(("/a", "/b"), ("/w",))
    revoked = auth.merge_role(granted, None, Permissions(("/zz",), ("/w",)))
    assert revoked.permissions == Permissions(("/a", "/b"), ())
    with pytest.raises(AuthError) as failure:
        auth.merge_role(granted, Permissions(None, ("/w",)), None)
    assert failure.value.message == "auth: Granting duplicate write permission /w"


@pytest.mark.parametrize(
    ("pattern", "key", "plain", "recursive"),
    [
        ("/foo/*", "/foo/", True, True),
        ("/foo/*", "/foo", False, False),
        ("/foo/*", "/foo/bar/baz", True, True),
        ("/foo", "/foo", True, False),
        ("/foo", "/foo/", False, False),
        ("/*", "", False, False),
        ("*", "", True, True),
    ],
)
def test_permission_matching(pattern: str, key: str, plain: bool, recursive: bool) -> None:
    role = Role("r", Permissions((pattern,), ()))
    assert auth.has_key_access(role, key, False) is plain
    assert auth.has_recursive_access(role, key, False) is recursive
    assert not auth.has_key_access(role, key, True)
    assert auth.has_key_access(auth.ROOT_ROLE, "anything", True)
    assert auth.has_recursive_access(Role("root"), "x", True)


def test_password_hash() -> None:
    stored = auth.hash_password("pw", b"0123456789abcdef")
    assert stored.startswith("scrypt$16384$8$1$")
    assert auth.check_password(stored, "pw")
    assert not auth.check_password(stored, "pW")
    assert stored != auth.hash_password("pw", b"fedcba9876543210")
    for bad in ("", "bcrypt$x", "scrypt$a$b$c$d$e", "scrypt$16384$8$1$!!$!!"):
        assert not auth.check_password(bad, "pw")
