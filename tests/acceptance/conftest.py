"""Fixtures of the acceptance tier: a director per test module, figures printed uncaptured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.harness import Director, why_not

WHY_NOT = why_not()


@pytest.fixture(scope="module")
def director(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Director]:
    if WHY_NOT is not None:
        pytest.skip(f"NOT RUN: the acceptance tier {WHY_NOT}")
    with Director(Path(tmp_path_factory.mktemp("acceptance"))) as d:
        yield d


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Prints a scenario's figures past pytest's capture, so every run shows them."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n[acceptance] {line}", flush=True)

    return emit
