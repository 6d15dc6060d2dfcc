"""The distribution: sdist and wheel built from a clean copy, installed into fresh venvs outside
the checkout, serving from there. Needs PyPI (or pip's cache) for the build backend and the
dependencies; takes about 1 min here."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.cluster.client import get_json, put_key, wait_for
from tests.packaging.member import member_process, stop
from tests.packaging.tree import copy_sources
from tests.pyetcd.harness import free_ports

DISTRIBUTION = "pyetcd-server"
TIMEOUT_S = 600.0
START_TIMEOUT_S = 30.0


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def _venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", path)
    return path / "bin"


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(sdist, wheel): `python -m build` makes the sdist, then the wheel from that sdist."""
    work = tmp_path_factory.mktemp("dist")
    source = copy_sources(work / "src")
    tools = _venv(work / "build-venv")
    _run(tools / "pip", "install", "--quiet", "build")
    _run(tools / "python", "-m", "build", "--outdir", work / "out", source)
    (sdist,) = (work / "out").glob("*.tar.gz")
    (wheel,) = (work / "out").glob("*.whl")
    yield sdist, wheel
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, emptied afterwards: a venv is too big to leave among pytest's kept runs."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def _install(venv: Path, artefact: Path) -> Path:
    bin_dir = _venv(venv)
    _run(bin_dir / "pip", "install", "--quiet", artefact)
    _run(bin_dir / "pip", "check")
    return bin_dir


def test_every_runtime_dependency_has_a_compatible_range(artefacts: tuple[Path, Path]) -> None:
    sdist, wheel = artefacts
    assert sdist.name.startswith("pyetcd_server-") and wheel.name.startswith("pyetcd_server-")
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    requires = [Requirement(line.split(":", 1)[1]) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]  # fmt: skip
    runtime = [r for r in requires if r.marker is None]
    assert {r.name for r in runtime} >= {"aiohttp", "uvloop", "msgpack", "cryptography"}
    for requirement in runtime:
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators and ("<" in operators or "~=" in operators), requirement


def test_the_wheel_installs_and_serves_from_a_fresh_venv(
    artefacts: tuple[Path, Path], scratch: Path
) -> None:
    bin_dir = _install(scratch / "venv", artefacts[1])
    where = _run(bin_dir / "python", "-c", "import pyetcd; print(pyetcd.__file__)", cwd=scratch)
    assert where.startswith(str(scratch / "venv")), where
    assert "this is pyetcd 0.1.0" in _run(bin_dir / "pyetcd", "--version")
    assert "quickstart" in _run(bin_dir / "pyetcd-certs", "--help")

    client, peer = free_ports(2)
    urls = {"client": f"http://127.0.0.1:{client}", "peer": f"http://127.0.0.1:{peer}"}
    argv = [str(bin_dir / "pyetcd"), "--name", "wheel", "--data-dir", str(scratch / "data"),
            "--enable-v2", "--listen-client-urls", urls["client"],
            "--advertise-client-urls", urls["client"], "--listen-peer-urls", urls["peer"],
            "--initial-advertise-peer-urls", urls["peer"],
            "--initial-cluster", f"wheel={urls['peer']}"]  # fmt: skip
    with member_process(argv, {"PATH": "/usr/bin:/bin"}, scratch / "member.log") as proc:
        wait_for(lambda: put_key(client, "wheel/k", "v"), START_TIMEOUT_S, "the member to serve",
                 interval=0.1)  # fmt: skip
        answer = get_json(client, "/v2/keys/wheel/k")
        assert answer is not None and answer[1]["node"]["value"] == "v", answer
        assert stop(proc) == 0
    assert "published" in (scratch / "member.log").read_text()


def test_the_sdist_carries_the_packaging_and_installs(
    artefacts: tuple[Path, Path], scratch: Path
) -> None:
    with tarfile.open(artefacts[0]) as archive:
        names = {name.split("/", 1)[-1] for name in archive.getnames()}
    assert {"Dockerfile", "packaging/systemd/pyetcd.service", "pyproject.toml"} <= names
    bin_dir = _install(scratch / "venv", artefacts[0])
    assert "this is pyetcd 0.1.0" in _run(bin_dir / "pyetcd", "--version")
    listed = _run(bin_dir / "pip", "show", "--files", DISTRIBUTION)
    assert "pyetcd/cli.py" in listed and "tls/certtool.py" in listed
