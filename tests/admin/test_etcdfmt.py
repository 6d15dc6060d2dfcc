"""etcd's formats decoded by hand: protobuf wire, crc32c, WAL frames, v2 requests, Go times;
and the v2 replay rules of import-etcd (pure)."""

from __future__ import annotations

import struct

import pytest

from pyetcd.admin import etcdfmt
from pyetcd.admin.importetcd import _log_after, v2_command
from store import commands as cmds


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _frame(data: bytes) -> bytes:
    pad = (8 - len(data) % 8) % 8
    field = len(data) | ((0x80 | pad) << 56 if pad else 0)
    return struct.pack("<Q", field) + data + b"\0" * pad


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert etcdfmt.crc32c(b"123456789") == 0xE3069283
    assert etcdfmt.crc32c(b"6789", etcdfmt.crc32c(b"12345")) == 0xE3069283


def test_request_decodes_v2_fields_and_rejects_internal_requests() -> None:
    raw = b"".join(
        (
            _field(1, 7), _field(2, "PUT"), _field(3, "/1/a"), _field(4, "v"), _field(5, 0),
            _field(6, "old"), _field(7, 3), _field(8, 1), _field(9, (1 << 64) - 5),
            _field(17, 1),
        )
    )  # fmt: skip
    req = etcdfmt.request(raw)
    assert req == etcdfmt.Request("PUT", "/1/a", "v", False, "old", 3, True, -5, False, 0, True)
    internal = _field(1, 9) + _field(4, b"\x0a\x01k") + _field(100, b"\x08\x01")
    assert etcdfmt.request(internal) is None
    assert etcdfmt.internal_v2(internal) is None
    assert etcdfmt.internal_v2(_field(1, 9) + _field(2, raw)) == req


def test_records_follow_padding_and_stop_at_a_torn_frame() -> None:
    rec = _field(1, etcdfmt.ENTRY) + _field(2, 42) + _field(3, b"abc")
    segment = _frame(rec) + _frame(rec) + b"\0" * 16
    found, torn = etcdfmt.records(segment)
    assert [off for off, _ in found] == [0, 24] and torn is None
    assert found[0][1] == etcdfmt.Record(etcdfmt.ENTRY, 42, b"abc")
    cut = _frame(rec) + _frame(rec)[:-6]
    found, torn = etcdfmt.records(cut)
    assert len(found) == 1 and torn is not None and torn.offset == 24


def test_snap_file_checks_its_crc() -> None:
    meta = _field(1, _field(1, 5) + _field(1, 6)) + _field(2, 100) + _field(3, 2)
    body = _field(1, b'{"Root":{}}') + _field(2, meta)
    raw = _field(1, etcdfmt.crc32c(body)) + _field(2, body)
    assert etcdfmt.snap_file(raw) == etcdfmt.SnapFile(100, 2, (5, 6), b'{"Root":{}}')
    with pytest.raises(etcdfmt.FormatError, match="crc"):
        etcdfmt.snap_file(_field(1, 1) + _field(2, body))


def test_go_times() -> None:
    assert etcdfmt.go_time_ns("0001-01-01T00:00:00Z") is None
    assert etcdfmt.go_time_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert etcdfmt.go_time_ns("1970-01-01T01:00:02.000000007+01:00") == 2_000_000_007
    with pytest.raises(etcdfmt.FormatError):
        etcdfmt.go_time_ns("yesterday")


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (etcdfmt.Request("PUT", "/1/a", "v"), cmds.Set("/a", "v", False, None, False, 9)),
        (
            etcdfmt.Request("PUT", "/1/a", "v", prev_exist=True),
            cmds.Update("/a", "v", None, False, 9),
        ),
        (
            etcdfmt.Request("PUT", "/1/a", "v", prev_exist=False, expiration=5),
            cmds.Create("/a", "v", False, False, 5, 9),
        ),
        (
            etcdfmt.Request("PUT", "/1/a", "v", prev_index=3, prev_exist=True, refresh=True),
            cmds.CompareAndSwap("/a", "", 3, "v", None, True, 9),
        ),
        (etcdfmt.Request("POST", "/1/q", "x"), cmds.Create("/q", "x", False, True, None, 9)),
        (
            etcdfmt.Request("DELETE", "/1/d", dir=True, recursive=True),
            cmds.Delete("/d", True, True, 9),
        ),
        (
            etcdfmt.Request("DELETE", "/1/d", prev_value="p"),
            cmds.CompareAndDelete("/d", "p", 0, 9),
        ),
        (etcdfmt.Request("PUT", "/0/version", "3.4.0"), None),
    ],
)
def test_v2_commands_follow_etcds_applier(req: etcdfmt.Request, expected: object) -> None:
    assert v2_command(req, 9) == expected


def test_a_later_write_of_an_index_replaces_the_tail() -> None:
    e = etcdfmt.Entry
    log = _log_after([e(1, 1, 0, b"a"), e(1, 2, 0, b"b"), e(2, 2, 0, b"c"), e(2, 3, 0, b"d")], None)
    assert [(x.index, x.data) for x in log] == [(1, b"a"), (2, b"c"), (3, b"d")]
