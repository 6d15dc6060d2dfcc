"""What the WAL, the snapshot store and the peer transport report as they work, for the
member's metrics: optional observers, called on the thread that did the work (the disk thread
for the WAL and snapshots, the event loop for the transport). Implementations must be cheap and
must not raise."""

from __future__ import annotations

from typing import Protocol

__all__ = ["DiskObserver", "PeerObserver"]


class DiskObserver(Protocol):
    def wal_synced(self, seconds: float) -> None:
        """One WAL fsync/fdatasync took `seconds`."""

    def wal_appended(self, nbytes: int) -> None:
        """`nbytes` were written to the WAL."""

    def snapshot_saved(self, marshalling: float, fsync: float, total: float) -> None:
        """A snapshot file was saved: encoding, writing with its fsync, and everything."""


class PeerObserver(Protocol):
    def peer_sent(self, peer: int, nbytes: int) -> None: ...

    def peer_received(self, peer: int, nbytes: int) -> None: ...

    def peer_receive_failed(self, peer: int) -> None:
        """A stream from `peer` ended on a malformed frame or a read error."""

    def peer_round_trip(self, peer: int, seconds: float) -> None: ...

    def peer_disconnected(self, peer: int) -> None:
        """The stream to `peer`, once up, went down."""

    def snapshot_receive_started(self, peer: int) -> None: ...

    def snapshot_receive_ended(self, peer: int, ok: bool, seconds: float) -> None:
        """A snapshot connection from `peer` ended: delivered to raft (`ok`) or not."""
