"""Peer-port fuzz: sessions of valid and mangled frames sent to members' peer listeners. A valid
session is a correct Hello and a heartbeat of a long-past term, which raft must ignore; the
mangled ones (flipped bits, truncations, garbage, an absurd length, a wrong cluster) must be
dropped and counted, and nothing may crash."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Sequence

from raft.aio.peer_frames import PROTO_VERSION, ConnKind, Hello, encode_control
from raft.codec import encode_frame
from raft.messages import Heartbeat
from tests.faults.members import PEER_PORT, Member

CLOSED_LINE = "peer: closing connection from"  # the member's warning for a dropped connection
KINDS = ("valid", "flipped", "truncated", "garbage", "oversized", "wrong-cluster")


def session(
    rng: random.Random, cluster_id: int, ids: Sequence[int], target: int
) -> tuple[str, bytes]:
    """(kind, bytes) of one fuzz session to member `target`."""
    frm = rng.choice([i for i in ids if i != target])
    hello = encode_control(Hello(PROTO_VERSION, cluster_id, frm, target, ConnKind.STREAM))
    valid = hello + encode_frame(Heartbeat(target, frm, 1, commit=0))
    kind = rng.choice(KINDS)
    match kind:
        case "valid":
            payload = valid
        case "flipped":
            flipped = bytearray(valid)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            payload = bytes(flipped)
        case "truncated":
            payload = valid[: rng.randrange(1, len(valid))]
        case "garbage":
            payload = rng.randbytes(rng.randint(1, 300))
        case "oversized":
            payload = hello + struct.pack(">I", 0xFFFFFFFF) + b"\0" * 16
        case _:
            payload = encode_control(
                Hello(PROTO_VERSION, cluster_id ^ 1, frm, target, ConnKind.STREAM)
            )
    return kind, payload


def send(member: Member, payload: bytes) -> None:
    """Write, half-close, read what comes back until the member closes (bounded)."""
    with contextlib.suppress(OSError), socket.create_connection((member.host, PEER_PORT), 2) as s:
        s.settimeout(2.0)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass


def fuzz_loop(rng: random.Random, members: Sequence[Member], cluster_id: int,
              stop: threading.Event, sent: Counter[str]) -> None:  # fmt: skip
    """Sessions to random members until `stop` (the caller's thread is in the namespace)."""
    while not stop.is_set():
        alive = [m for m in members if m.alive and not m.paused]
        if not alive:
            stop.wait(0.1)
            continue
        target = rng.choice(alive)
        kind, payload = session(rng, cluster_id, [int(m.member_id, 16) for m in members],
                                int(target.member_id, 16))  # fmt: skip
        send(target, payload)
        sent[kind] += 1
