"""A clean copy of the checkout and a wheelhouse built from it, for the packaging tests.

Building from a copy keeps build artefacts (egg-info, wheels) out of the checkout, and shows that
what the image and the sdist take is what the repository tracks, not a developer's leftovers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Local state that is never part of a build (see .gitignore).
_LOCAL = (
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "*.etcd", ".pytest_cache",
    ".ruff_cache", ".hypothesis", "out", "peer", "wheels",
)  # fmt: skip
# What building pyetcd itself needs besides its runtime dependencies.
BUILD_REQUIREMENTS = ("setuptools>=70.1", "wheel")


def copy_sources(dest: Path) -> Path:
    """Copy the checkout to `dest` without local state; returns `dest`."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*_LOCAL), symlinks=True)
    return dest


def build_wheelhouse(source: Path, dest: Path, timeout: float = 600.0) -> Path:
    """Wheels of pyetcd, its dependencies and its build backend for this Python (from PyPI)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), str(source),
         *BUILD_REQUIREMENTS],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, f"pip wheel failed: {done.stderr[-2000:]}"
    return dest
