"""The filesystem seam under the WAL and the snapshot store.

`OsFS` is the real thing (`NoSyncFS` wraps it for `--unsafe-no-fsync`). `FaultyFS` is an
in-memory disk for tests and the simulator that keeps apart what the page cache holds and what
an fsync made durable, so it can cut the power (dropping or tearing unsynced writes), flip bits,
and fail operations with ENOSPC or EIO.

A failed fsync raises `FsyncFailed`. It is fatal: after a failed fsync the kernel may have dropped
the dirty pages, so the durability of everything written since the last good sync is unknown and
retrying cannot restore it. The member must stop with a clear message, never carry on.
"""

from __future__ import annotations

import errno
import os
import posixpath
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


class FsyncFailed(OSError):
    """An fsync/fdatasync failed: durability is unknown; the member must stop (fatal)."""


class File(Protocol):
    """A file open for writing at explicit offsets (pwrite-style)."""

    def write(self, offset: int, data: bytes) -> None:
        """Write all of `data` at `offset`, or raise OSError (bytes may be partly written)."""
        ...

    def fsync(self) -> None: ...

    def fdatasync(self) -> None: ...

    def truncate(self, size: int) -> None: ...

    def preallocate(self, length: int) -> None:
        """Reserve blocks for the first `length` bytes; the size grows, new bytes read as zero."""
        ...

    def size(self) -> int: ...

    def close(self) -> None:
        """Idempotent."""
        ...


class FS(Protocol):
    def open_write(self, path: str) -> NoSyncFile:
        """Open for writing, creating the file if missing; never truncates."""
        ...

    def read(self, path: str) -> bytes: ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace `dst`; durable only after `fsync_dir` of the directory."""
        ...

    def remove(self, path: str) -> None: ...

    def listdir(self, path: str) -> list[str]:
        """The names in a directory, sorted."""
        ...

    def makedirs(self, path: str) -> None: ...

    def fsync_dir(self, path: str) -> None: ...

    def truncate(self, path: str, size: int) -> None: ...

    def size(self, path: str) -> int: ...

    def exists(self, path: str) -> bool: ...


class OsFile:
    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            done = os.pwrite(self._fd, view, offset)
            offset += done
            view = view[done:]

    def fsync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise FsyncFailed(exc.errno, f"fsync failed: {exc.strerror}") from exc

    def fdatasync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise FsyncFailed(exc.errno, f"fdatasync failed: {exc.strerror}") from exc

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)

    def preallocate(self, length: int) -> None:
        os.posix_fallocate(self._fd, 0, length)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        """Idempotent, so error paths may close again without touching a reused descriptor."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class OsFS:
    """The real filesystem through `os`; stateless, so safe to share between threads."""

    def open_write(self, path: str) -> OsFile:
        return OsFile(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        os.remove(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        except OSError as exc:
            message = f"fsync of directory {path} failed: {exc.strerror}"
            raise FsyncFailed(exc.errno, message) from exc
        finally:
            os.close(fd)

    def truncate(self, path: str, size: int) -> None:
        os.truncate(path, size)

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


class NoSyncFile:
    """A file whose fsync and fdatasync do nothing (see `NoSyncFS`)."""

    __slots__ = ("_file",)

    def __init__(self, file: File) -> None:
        self._file = file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def fsync(self) -> None:
        """Skipped: --unsafe-no-fsync."""

    def fdatasync(self) -> None:
        """Skipped: --unsafe-no-fsync."""


class NoSyncFS:
    """etcd's `--unsafe-no-fsync`: every file and directory sync is skipped, so a power loss
    (not a process crash: the page cache survives that) can lose acknowledged writes."""

    __slots__ = ("_fs",)

    def __init__(self, fs: FS) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)

    def open_write(self, path: str) -> NoSyncFile:
        return NoSyncFile(self._fs.open_write(path))

    def fsync_dir(self, path: str) -> None:
        """Skipped: --unsafe-no-fsync."""


@dataclass(slots=True)
class _Inode:
    data: bytearray = field(default_factory=bytearray)
    durable: bytearray = field(default_factory=bytearray)
    # Writes and truncates since the last fsync, in order: (offset, bytes) or (size, None).
    pending: list[tuple[int, bytes | None]] = field(default_factory=list)


def _apply(buf: bytearray, offset: int, data: bytes | None) -> None:
    if data is None:
        del buf[offset:]
        buf.extend(bytes(max(0, offset - len(buf))))
        return
    if offset > len(buf):
        buf.extend(bytes(offset - len(buf)))
    buf[offset : offset + len(data)] = data


class FaultyFile:
    __slots__ = ("_epoch", "_fs", "_inode", "_path")

    def __init__(self, fs: FaultyFS, path: str, inode: _Inode) -> None:
        self._fs, self._path, self._inode, self._epoch = fs, path, inode, fs.epoch

    def _check(self, op: str) -> None:
        if self._epoch != self._fs.epoch:
            raise RuntimeError(f"{op} on {self._path}: handle opened before a power cut")
        self._fs._maybe_fail(op, self._path)

    def write(self, offset: int, data: bytes) -> None:
        with self._fs.lock:
            self._check("write")
            grow = max(0, offset + len(data) - len(self._inode.data))
            room = self._fs.free_space()
            if grow > room:
                fits = bytes(data[: max(0, len(data) - (grow - room))])
                self._put(offset, fits)
                raise OSError(errno.ENOSPC, f"No space left on device: {self._path}")
            self._put(offset, bytes(data))

    def _put(self, offset: int, data: bytes) -> None:
        if data:
            _apply(self._inode.data, offset, data)
            self._inode.pending.append((offset, data))

    def _sync(self, op: str) -> None:
        with self._fs.lock:
            try:
                self._check(op)
            except OSError as exc:
                raise FsyncFailed(exc.errno, f"{op} failed: {exc.strerror}") from exc
            for offset, chunk in self._inode.pending:
                _apply(self._inode.durable, offset, chunk)
            self._inode.pending.clear()

    def fsync(self) -> None:
        self._sync("fsync")

    def fdatasync(self) -> None:
        self._sync("fdatasync")

    def truncate(self, size: int) -> None:
        with self._fs.lock:
            self._check("truncate")
            _apply(self._inode.data, size, None)
            self._inode.pending.append((size, None))

    def preallocate(self, length: int) -> None:
        with self._fs.lock:
            self._check("preallocate")
            grow = length - len(self._inode.data)
            if grow <= 0:
                return
            if grow > self._fs.free_space():
                raise OSError(errno.ENOSPC, f"No space left on device: {self._path}")
            self._put(len(self._inode.data), bytes(grow))

    def size(self) -> int:
        with self._fs.lock:
            return len(self._inode.data)

    def close(self) -> None:
        """Closing does not sync, as with a real file."""


class FaultyFS:
    """An in-memory disk with the durability rules of POSIX and injectable faults.

    File contents become durable at fsync/fdatasync; directory entries (creates, renames,
    removes) at `fsync_dir` of their directory. Directories made by `makedirs` are durable at
    once. `power_cut` forgets everything else, or, given a `random.Random`, keeps a random part
    of the unsynced writes as a crash mid-write would (see `power_cut`). Thread-safe. Keep
    segments small on it: a preallocated 64 MiB segment is 64 MiB of memory.
    """

    def __init__(self, space: int | None = None) -> None:
        self.lock = threading.RLock()
        self.epoch = 0
        self.space = space
        self._dirs: set[str] = {"/"}
        self._names: dict[str, _Inode] = {}
        self._durable_names: dict[str, _Inode] = {}
        self._faults: list[tuple[str, str, int, int]] = []

    def fail(self, op: str, code: int = errno.EIO, *, after: int = 0, path: str = "") -> None:
        """Make the (after+1)-th later `op` (on a path containing `path`) raise OSError(code).

        `op` is one of write, fsync, fdatasync, truncate, preallocate, open, rename, remove,
        fsync_dir; fsync failures surface as `FsyncFailed`.
        """
        with self.lock:
            self._faults.append((op, path, after, code))

    def _maybe_fail(self, op: str, path: str) -> None:
        for i, (f_op, f_path, after, code) in enumerate(self._faults):
            if f_op == op and f_path in path:
                if after:
                    self._faults[i] = (f_op, f_path, after - 1, code)
                    return
                del self._faults[i]
                raise OSError(code, f"{os.strerror(code)} (injected): {path}")

    def free_space(self) -> int:
        if self.space is None:
            return 1 << 62
        return self.space - self.used()

    def used(self) -> int:
        inodes = {id(i): i for i in (*self._names.values(), *self._durable_names.values())}
        return sum(max(len(i.data), len(i.durable)) for i in inodes.values())

    @staticmethod
    def _norm(path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path))

    def _parent(self, path: str) -> str:
        parent = posixpath.dirname(path)
        if parent not in self._dirs:
            raise FileNotFoundError(errno.ENOENT, f"No such directory: {parent}")
        return parent

    def _inode(self, path: str) -> _Inode:
        inode = self._names.get(path)
        if inode is None:
            raise FileNotFoundError(errno.ENOENT, f"No such file: {path}")
        return inode

    def open_write(self, path: str) -> FaultyFile:
        with self.lock:
            path = self._norm(path)
            self._parent(path)
            self._maybe_fail("open", path)
            inode = self._names.setdefault(path, _Inode())
            return FaultyFile(self, path, inode)

    def read(self, path: str) -> bytes:
        with self.lock:
            return bytes(self._inode(self._norm(path)).data)

    def rename(self, src: str, dst: str) -> None:
        with self.lock:
            src, dst = self._norm(src), self._norm(dst)
            inode = self._inode(src)
            self._parent(dst)
            self._maybe_fail("rename", dst)
            del self._names[src]
            self._names[dst] = inode

    def remove(self, path: str) -> None:
        with self.lock:
            path = self._norm(path)
            self._inode(path)
            self._maybe_fail("remove", path)
            del self._names[path]

    def listdir(self, path: str) -> list[str]:
        with self.lock:
            path = self._norm(path)
            if path not in self._dirs:
                raise FileNotFoundError(errno.ENOENT, f"No such directory: {path}")
            children = [p for p in (*self._names, *self._dirs) if p != "/"]
            return sorted(posixpath.basename(p) for p in children if posixpath.dirname(p) == path)

    def makedirs(self, path: str) -> None:
        with self.lock:
            path = self._norm(path)
            while path not in self._dirs:
                self._dirs.add(path)
                path = posixpath.dirname(path)

    def fsync_dir(self, path: str) -> None:
        with self.lock:
            path = self._norm(path)
            try:
                self._maybe_fail("fsync_dir", path)
            except OSError as exc:
                raise FsyncFailed(exc.errno, f"fsync of directory {path} failed") from exc
            for name in [p for p in self._durable_names if posixpath.dirname(p) == path]:
                del self._durable_names[name]
            for name, inode in self._names.items():
                if posixpath.dirname(name) == path:
                    self._durable_names[name] = inode

    def truncate(self, path: str, size: int) -> None:
        with self.lock:
            inode = self._inode(self._norm(path))
            _apply(inode.data, size, None)
            inode.pending.append((size, None))

    def size(self, path: str) -> int:
        with self.lock:
            return len(self._inode(self._norm(path)).data)

    def exists(self, path: str) -> bool:
        with self.lock:
            path = self._norm(path)
            return path in self._names or path in self._dirs

    def flip_bit(self, path: str, bit: int) -> None:
        """Media corruption: flip one bit of a file, in the cache and on the platter alike."""
        with self.lock:
            inode = self._inode(self._norm(path))
            byte, mask = bit // 8, 1 << (bit % 8)
            inode.data[byte] ^= mask
            if byte < len(inode.durable):
                inode.durable[byte] ^= mask

    def power_cut(self, rng: random.Random | None = None, *, pages: bool = False) -> None:
        """Lose what was not made durable; with `rng`, keep some of the pending writes.

        By default a file keeps a random prefix of its pending writes, the last one cut short and
        sometimes its missing bytes zero-filled (allocated, never written). With `pages`,
        writeback order is arbitrary instead: each page the pending writes touched is either the
        new or the durable version, and the size either the new or the old one.
        """
        with self.lock:
            self.epoch += 1
            self._faults.clear()
            self._names = dict(self._durable_names)
            for inode in {id(i): i for i in self._names.values()}.values():
                data = bytearray(inode.durable)
                if rng is not None and inode.pending:
                    if pages:
                        data = _mix_pages(inode, rng)
                    else:
                        keep = rng.randrange(len(inode.pending) + 1)
                        for offset, chunk in inode.pending[:keep]:
                            _apply(data, offset, chunk)
                        if keep < len(inode.pending):
                            _tear(data, *inode.pending[keep], rng)
                inode.data = data
                inode.durable = bytearray(data)
                inode.pending.clear()


PAGE = 4096


def _mix_pages(inode: _Inode, rng: random.Random) -> bytearray:
    size = rng.choice((len(inode.data), len(inode.durable)))
    old = bytearray(inode.durable[:size].ljust(size, b"\0"))
    new = inode.data[:size].ljust(size, b"\0")
    touched: set[int] = set()
    for offset, chunk in inode.pending:
        end = size if chunk is None else offset + len(chunk)
        touched.update(range(offset // PAGE, (end + PAGE - 1) // PAGE))
    for page in sorted(touched):
        if rng.random() < 0.5:
            old[page * PAGE : (page + 1) * PAGE] = new[page * PAGE : (page + 1) * PAGE]
    return old[:size]


def _tear(data: bytearray, offset: int, chunk: bytes | None, rng: random.Random) -> None:
    """Apply part of one write: a prefix of it, the rest possibly zero-filled (allocated only)."""
    if chunk is None:
        return
    cut = rng.randrange(len(chunk) + 1)
    torn = chunk[:cut]
    if rng.random() < 0.5:
        torn += bytes(len(chunk) - cut)
    _apply(data, offset, torn)
