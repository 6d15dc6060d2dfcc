"""Session fixtures for the container tests: one base image and one pyetcd image, built offline.

Building takes about 45 s here (mmdebstrap ~25 s, wheels ~5 s, podman build ~10 s); both
container tests share the result. Anything this machine lacks makes them skip as NOT RUN.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest

from tests.packaging.images import (
    NotRunnable,
    Podman,
    apt_sources,
    debian_mirror,
    make_base_tarball,
    runnable_podman,
)
from tests.packaging.tree import build_wheelhouse, copy_sources

BASE_IMAGE = "localhost/pyetcd-test-base:bookworm"
IMAGE = "localhost/pyetcd-test:latest"


@dataclass(frozen=True)
class BuiltImage:
    podman: Podman
    name: str


def _not_run(reason: str) -> NoReturn:
    pytest.skip(f"NOT RUN (container tests): {reason}")


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    """The Dockerfile built with --network none from a Debian base and host-built wheels."""
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        _not_run(f"{' and '.join(missing)} not installed (scripts/test-packaging installs them)")
    if sys.version_info[:2] != (3, 11):
        _not_run(f"the wheels are built by this Python {sys.version.split()[0]}; the Debian "
                 "bookworm base image has python 3.11")  # fmt: skip
    mirror = debian_mirror(apt_sources())
    if mirror is None:
        _not_run("no apt source in /etc/apt serves Debian bookworm (needed for mmdebstrap)")
    work = tmp_path_factory.mktemp("image")
    home = tmp_path_factory.mktemp("podman")
    podman = Podman(home)
    try:
        started = time.monotonic()
        tarball = make_base_tarball(work / "base.tar", mirror)
        podman.run("import", str(tarball), BASE_IMAGE, timeout=300)
        podman = runnable_podman(home, BASE_IMAGE)
        context = copy_sources(work / "context")
        build_wheelhouse(context, context / "wheels")
        podman.run("build", "--format", "docker", "--network", "none", "--pull=never",
                   "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--build-arg", "PIP_NO_INDEX=1",
                   "--tag", IMAGE, str(context), timeout=900)  # fmt: skip
        print(f"\ntests/packaging: base image and pyetcd image built in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        yield BuiltImage(podman, IMAGE)
    except NotRunnable as exc:
        _not_run(str(exc))
    finally:
        podman.reset()
        shutil.rmtree(work, ignore_errors=True)


# The image and distribution builds take about three minutes: a tier of their own, so that the
# default suite stays within its 20 minutes (scripts/test-packaging runs it).
OPT_IN = "PYETCD_PACKAGING"
SLOW_MODULES = ("test_container.py", "test_distribution.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(OPT_IN) == "1":
        return
    skip = pytest.mark.skip(reason=f"NOT RUN: the packaging tier needs {OPT_IN}=1 "
                            "(scripts/test-packaging)")  # fmt: skip
    for item in items:
        if item.path.name in SLOW_MODULES and item.path.parent.name == "packaging":
            item.add_marker(skip)
