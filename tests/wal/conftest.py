from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raft.aio.fs import FS, FaultyFS, OsFS


@pytest.fixture(params=["os", "faulty"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FS, str]]:
    """The same tests on the real disk and on the in-memory one."""
    if request.param == "os":
        yield OsFS(), str(tmp_path / "wal")
    else:
        yield FaultyFS(), "/data/wal"
