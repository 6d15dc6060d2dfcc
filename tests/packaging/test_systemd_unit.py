"""packaging/systemd: the unit verifies, its user is created, and its environment runs a member.

`systemd-analyze verify` runs against a scratch root holding this machine's system units, the unit
and a stand-in ExecStart, so nothing is installed on the host. Takes about 5 s; the checks that
need systemd's tools report NOT RUN without them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.client import put_key
from tests.packaging.member import member_process, stop
from tests.packaging.tree import ROOT
from tests.pyetcd.harness import free_ports

UNITS = ROOT / "packaging" / "systemd"
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                     if p.is_dir()), None)  # fmt: skip
READY_TIMEOUT_S = 30.0


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, repeats kept."""
    section, found = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        else:
            key, value = line.split("=", 1)
            found.append((section, key.strip(), value.strip()))
    return found


def environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile, comments skipped."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line
             and not line.lstrip().startswith("#"))  # fmt: skip
    return {key.strip(): value.strip() for key, value in pairs}


SERVICE = unit_settings((UNITS / "pyetcd.service").read_text())


def _service(key: str) -> list[str]:
    return [value for section, k, value in SERVICE if section == "Service" and k == key]


def test_unit_is_in_the_spirit_of_debians_etcd_unit() -> None:
    assert _service("Type") == ["notify"]
    assert _service("User") == ["pyetcd"]
    assert _service("Restart") == ["on-failure"]
    assert _service("EnvironmentFile") == ["-/etc/default/%p"]
    assert _service("StateDirectory") == ["pyetcd"]
    assert "ETCD_DATA_DIR=/var/lib/pyetcd/default" in _service("Environment")
    (start,) = _service("ExecStart")
    assert start.split()[0] == "/opt/pyetcd/bin/pyetcd"


def _scratch_root(tmp_path: Path, with_command: bool) -> Path:
    if SYSTEM_UNITS is None or shutil.which("systemd-analyze") is None:
        pytest.skip("NOT RUN: systemd-analyze or the system unit directory is missing")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNITS / "pyetcd.service", root / "etc/systemd/system/pyetcd.service")
    if with_command:
        command = root / "opt/pyetcd/bin/pyetcd"
        command.parent.mkdir(parents=True)
        command.write_text("#!/bin/sh\n")
        command.chmod(0o755)
    return root


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", "pyetcd.service"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    done = _verify(_scratch_root(tmp_path, with_command=True))
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stderr


def test_verify_catches_a_missing_command(tmp_path: Path) -> None:
    done = _verify(_scratch_root(tmp_path, with_command=False))
    assert done.returncode != 0 and "/opt/pyetcd/bin/pyetcd" in done.stderr


def test_sysusers_creates_the_dedicated_user(tmp_path: Path) -> None:
    if shutil.which("systemd-sysusers") is None:
        pytest.skip("NOT RUN: systemd-sysusers is missing")
    conf = tmp_path / "usr/lib/sysusers.d/pyetcd.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    shutil.copy(UNITS / "pyetcd.sysusers", conf)
    done = subprocess.run(["systemd-sysusers", f"--root={tmp_path}"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    users = {line.split(":")[0]: line.split(":") for line in
             (tmp_path / "etc/passwd").read_text().splitlines()}  # fmt: skip
    assert users["pyetcd"][5:] == ["/var/lib/pyetcd", "/usr/sbin/nologin"]
    assert users["pyetcd"][2] != "0"


def test_the_units_environment_starts_a_member_that_notifies_ready(tmp_path: Path) -> None:
    """What systemd would run: the unit's Environment= (with %H), the shipped EnvironmentFile,
    an operator's port choices, and NOTIFY_SOCKET, which must receive READY=1 once it serves."""
    command = Path(sys.executable).with_name("pyetcd")
    assert command.exists(), f"{command} missing: install the checkout (pip install -e .)"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for assignment in _service("Environment"):
        key, value = assignment.split("=", 1)
        env[key] = value.replace("%H", socket.gethostname())
    env.update(environment_file((UNITS / "pyetcd.default").read_text()))
    client, peer = (f"http://127.0.0.1:{port}" for port in free_ports(2))
    env.update({
        "ETCD_DATA_DIR": str(tmp_path / "data"),
        "ETCD_LISTEN_CLIENT_URLS": client, "ETCD_ADVERTISE_CLIENT_URLS": client,
        "ETCD_LISTEN_PEER_URLS": peer, "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
    })  # fmt: skip
    argv = [str(command), *env.pop("DAEMON_ARGS").split()]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(env["NOTIFY_SOCKET"])
        notify.settimeout(READY_TIMEOUT_S)
        with member_process(argv, env, tmp_path / "member.log") as proc:
            assert notify.recv(64) == b"READY=1"
            reply = put_key(int(client.rsplit(":", 1)[1]), "unit/ready", "yes", timeout=5.0)
            assert reply is not None and reply.status == 201, reply
            assert stop(proc) == 0
