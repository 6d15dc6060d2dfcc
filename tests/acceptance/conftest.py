"""Fixtures of the acceptance tier: the flavor (plain, or TLS with fresh `pyetcd-certs
bosh-vars` material), a director per test module or per test, figures printed uncaptured.

The default run is the fast subset, non-TLS; `PYETCD_ACCEPTANCE=full` (scripts/acceptance)
adds the TLS flavor of it and every other scenario."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.harness import Director, Manifest, tls_vars, why_not

WHY_NOT = why_not()
FULL = os.environ.get("PYETCD_ACCEPTANCE") == "full"
FLAVORS = ["plain", "tls"] if FULL else ["plain"]


class Flavor:
    """Makes the manifests of one flavor."""

    def __init__(self, name: str, base: Path) -> None:
        self.name = name
        self.tls = tls_vars(base, "first") if name == "tls" else None

    def manifest(self, instances: int, **kwargs: object) -> Manifest:
        return Manifest(instances, tls=self.tls, **kwargs)  # type: ignore[arg-type]


def _need() -> None:
    if WHY_NOT is not None:
        pytest.skip(f"NOT RUN: the acceptance tier {WHY_NOT}")


@pytest.fixture(scope="module", params=FLAVORS)
def flavor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Flavor:
    _need()
    return Flavor(request.param, Path(tmp_path_factory.mktemp(f"vars-{request.param}")))


@pytest.fixture(scope="module")
def director(flavor: Flavor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Director]:
    """One deployment shared by a module's tests (each converges it to what it needs)."""
    with Director(Path(tmp_path_factory.mktemp("acceptance"))) as d:
        yield d


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Director]:
    """A deployment of its own for one test."""
    _need()
    with Director(tmp_path) as d:
        yield d


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Prints a scenario's figures past pytest's capture, so every run shows them."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n[acceptance] {line}", flush=True)

    return emit
