"""Go's net/url and strconv parsing rules."""

from __future__ import annotations

import pytest

from http_api.form import FormError, media_type, parse_bool, parse_query, parse_uint, unescape


def test_unescape_query_and_path_modes() -> None:
    assert unescape("a+b%2B%41", True) == "a b+A"
    assert unescape("a+b%2F", False) == "a+b/"
    assert unescape("plain", True) == "plain"
    assert unescape("%ff", True) == "\udcff"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%zz", 'invalid URL escape "%zz"'),
        ("%z", 'invalid URL escape "%z"'),
        ("x%", 'invalid URL escape "%"'),
        ("%%41", 'invalid URL escape "%%4"'),
        ("%+1", 'invalid URL escape "%+1"'),
    ],
)
def test_unescape_errors_quote_the_escape(text: str, message: str) -> None:
    with pytest.raises(FormError) as caught:
        unescape(text, True)
    assert str(caught.value) == message


def test_parse_query_keeps_order_and_first_error() -> None:
    form: dict[str, list[str]] = {}
    error = parse_query("a=1&a=2&b&;c=1&d=%zz&&e=x=y", form)
    assert error == "invalid semicolon separator in query"
    assert form == {"a": ["1", "2"], "b": [""], "e": ["x=y"]}
    assert parse_query("x=%zz&y=1;", {}) == 'invalid URL escape "%zz"'


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_parse_bool_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_parse_bool_false(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "yes", "tRUE", " true", "2"])
def test_parse_bool_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bool(text)


def test_parse_uint() -> None:
    assert parse_uint("007") == 7
    assert parse_uint("18446744073709551615") == (1 << 64) - 1
    for bad in ("", "-1", "+1", "1.5", " 1", "18446744073709551616", "\u0661"):
        with pytest.raises(ValueError):
            parse_uint(bad)


def test_media_type() -> None:
    assert media_type("Application/X-WWW-Form-Urlencoded; charset=utf-8") == (
        "application/x-www-form-urlencoded"
    )
    for bad, message in (
        ("", "mime: no media type"),
        ("text", "mime: expected slash after first token"),
        ("text/", "mime: expected token after slash"),
        ("text/plain; x", "mime: invalid media parameter"),
    ):
        with pytest.raises(FormError) as caught:
            media_type(bad)
        assert str(caught.value) == message
