"""The payload of a log entry: the proposer's request id and the encoded store command.

The request id lets the member that received a request find its waiter when the entry is
applied; every other member ignores it.
"""

from __future__ import annotations

import msgpack

from store.commands import BadCommand, Command, decode_command, encode_command


def encode_entry(request_id: int, cmd: Command) -> bytes:
    return msgpack.packb([request_id, encode_command(cmd)], use_bin_type=True)


def decode_entry(data: bytes) -> tuple[int, Command]:
    """Raises BadCommand for bytes that are not an entry of this version."""
    try:
        request_id, payload = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadCommand(f"undecodable entry: {exc}") from exc
    if not isinstance(request_id, int) or not isinstance(payload, bytes):
        raise BadCommand("entry is not [request id, command]")
    return request_id, decode_command(payload)
