"""ServeMux path cleaning, decoding and redirects."""

from __future__ import annotations

import pytest

from http_api.paths import BadRequestTarget, clean, escape_path, parse_target, redirect_body


@pytest.mark.parametrize(
    ("raw", "path", "query", "redirect"),
    [
        ("/v2/keys/a", "/v2/keys/a", "", None),
        ("/v2/keys/a/?x=1", "/v2/keys/a/", "x=1", None),
        ("/v2/keys/a//b?x=1", "/v2/keys/a/b", "x=1", "/v2/keys/a/b?x=1"),
        ("/v2/keys/a/./b", "/v2/keys/a/b", "", "/v2/keys/a/b"),
        ("/v2/keys/a/../b/", "/v2/keys/b/", "", "/v2/keys/b/"),
        ("/v2/keys/a%2F%2Fb", "/v2/keys/a/b", "", "/v2/keys/a/b"),
        ("/v2/keys/a/%2e%2e/b?q=%20", "/v2/keys/b", "q=%20", "/v2/keys/b?q=%20"),
        ("/v2/keys/sp%20ace%3F", "/v2/keys/sp ace?", "", None),
        ("/v2/keys/.hidden", "/v2/keys/.hidden", "", None),
        ("http://h:2379/v2/keys/a?x", "/v2/keys/a", "x", None),
        ("http://h:2379", "/", "", None),
        ("/v2/keys/x/..%2F%C3%A9 y", "/v2/keys/é y", "", "/v2/keys/%C3%A9%20y"),
    ],
)
def test_parse_target(raw: str, path: str, query: str, redirect: str | None) -> None:
    target = parse_target(raw)
    assert (target.path, target.query, target.redirect) == (path, query, redirect)


def test_bad_escape_is_a_bad_request() -> None:
    with pytest.raises(BadRequestTarget):
        parse_target("/v2/keys/%zz")


def test_clean_keeps_trailing_slash_and_root() -> None:
    assert clean(b"/a/b/../../..") == b"/"
    assert clean(b"/a/./") == b"/a/"
    assert clean(b"a") == b"/a"


def test_escape_path_and_redirect_body() -> None:
    assert escape_path(b"/a b/\xff!$&+,:;=@~") == "/a%20b/%FF%21$&+,:;=@~"
    assert redirect_body("/v2/keys/a?x=1&y='") == (
        b'<a href="/v2/keys/a?x=1&amp;y=&#39;">Moved Permanently</a>.\n\n'
    )
