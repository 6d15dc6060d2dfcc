"""packages/pyetcd: release/scripts/prepare gathers the source and the wheels, the packaging
script installs them offline into ${BOSH_INSTALL_TARGET}, and the installed tools run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.procs import free_port
from tests.release.bosh import RELEASE

pytestmark = pytest.mark.timeout(240)  # downloads ~20 MB of wheels from PyPI, ~20 s


def test_packaging_installs_runnable_tools(tmp_path: Path) -> None:
    src, target = tmp_path / "compile", tmp_path / "install"
    env = {**os.environ, "PYETCD_RELEASE_SRC": str(src)}
    prepared = subprocess.run([str(RELEASE / "scripts/prepare")], env=env, capture_output=True,
                              text=True, timeout=180, check=False)  # fmt: skip
    if prepared.returncode != 0:
        pytest.skip(f"NOT RUN: cannot download the wheels: {prepared.stderr.strip()[-300:]}")
    env = {**os.environ, "BOSH_COMPILE_TARGET": str(src), "BOSH_INSTALL_TARGET": str(target),
           "PIP_CONFIG_FILE": os.devnull}  # fmt: skip
    subprocess.run([str(RELEASE / "packages/pyetcd/packaging")], env=env, cwd=src, check=True,
                   timeout=180)  # fmt: skip
    version = subprocess.run([str(target / "bin/pyetcd"), "--version"], capture_output=True,
                             text=True, check=True, timeout=30)  # fmt: skip
    assert version.stdout.startswith("etcd Version: 3.4.23")
    for tool in ("pyetcd-certs", "pyetcd-lifecycle"):
        subprocess.run([str(target / "bin" / tool), "--help"], capture_output=True, check=True,
                       timeout=30)  # fmt: skip
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "etcd.yml"
    config.write_text(
        f"name: m\ndata-dir: {tmp_path / 'data'}\nenable-v2: true\nlisten-client-urls: {client}\n"
        f"advertise-client-urls: {client}\nlisten-peer-urls: {peer}\n"
        f"initial-advertise-peer-urls: {peer}\ninitial-cluster: m={peer}\n"
    )
    proc = subprocess.Popen([str(target / "bin/pyetcd"), "--config-file", str(config)],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for line in proc.stderr or ():
            if "ready to serve client requests" in line:
                break
        else:
            pytest.fail("the installed pyetcd never became ready")
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
