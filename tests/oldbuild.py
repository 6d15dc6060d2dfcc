"""A build of an earlier commit of this checkout, for the upgrade tiers: the commit's source
exported from git history and installed into a virtualenv of its own (tests/upgrade runs its
daemon, tests/acceptance deploys its release/ as the previous release version)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 600


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=60)


@contextlib.contextmanager
def old_build(commit: str, what: str) -> Iterator[tuple[Path, Path]]:
    """(source, virtualenv) of `commit`, removed afterwards; skips, saying NOT RUN, when this is
    no git checkout holding `commit` (`what` it is) or the build cannot be installed."""
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip(f"NOT RUN: {REPO} is not a git checkout, so build {commit} is unavailable")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"NOT RUN: commit {commit} ({what}) is not in this checkout")
    root = Path(tempfile.mkdtemp(prefix="pyetcd-prev-"))
    try:
        source = root / "src"
        source.mkdir()
        archive = _git("archive", "--format=tar", commit)
        assert archive.returncode == 0, archive.stderr.decode()
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", str(source)],
            capture_output=True,
            timeout=BUILD_TIMEOUT,
        )
        if pip.returncode != 0:
            pytest.skip(f"NOT RUN: cannot install build {commit}: {pip.stderr.decode()[-500:]}")
        yield source, venv
    finally:
        shutil.rmtree(root, ignore_errors=True)
