"""`--config-file`: parsed as etcd 3.4 parses it, and served as etcd serves the same file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pyetcd.config import Config, load_config
from pyetcd.flags import ConfigError
from tests.procs import HOST, command, free_port

BASE = """\
name: m1
data-dir: {data}
listen-client-urls: http://127.0.0.1:{client}
advertise-client-urls: http://127.0.0.1:{client}
listen-peer-urls: http://127.0.0.1:{peer}
initial-advertise-peer-urls: http://127.0.0.1:{peer}
initial-cluster: m1=http://127.0.0.1:{peer}
initial-cluster-token: file-token
heartbeat-interval: 10
election-timeout: 100
enable-v2: true
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "etcd.yml"
    path.write_text(text)
    return str(path)


def _load(path: str, argv: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Config:
    loaded = load_config(["--config-file", path, *argv], env or {})
    assert isinstance(loaded, Config)
    return loaded


def test_file_sets_what_flags_set(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE.format(data=tmp_path / "d", client=4001, peer=7001)
        + (
            "client-transport-security:\n  cert-file: \n  client-cert-auth: true\n"
            "log-outputs: [stderr]\nmax-snapshots: 3\ngrpc-keepalive-timeout: 3000000000\n"
        ),
    )
    config = _load(path)
    assert config.name == "m1"
    assert config.data_dir == str(tmp_path / "d")
    assert config.listen_client_urls == ("http://127.0.0.1:4001",)
    assert config.initial_cluster == (("m1", ("http://127.0.0.1:7001",)),)
    assert config.initial_cluster_token == "file-token"
    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (10, 100)
    assert config.enable_v2 and config.client_cert_auth and config.max_snapshots == 3
    assert config.inert == ("grpc-keepalive-timeout",)  # the v3-only flags the file sets
    assert any("will be ignored" in w for w in config.warnings)


def test_flags_and_environment_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.format(data=tmp_path / "d", client=4001, peer=7001))
    env = {"ETCD_NAME": "from-env", "ETCD_HEARTBEAT_INTERVAL": "junk"}
    config = _load(path, ("--name", "from-flag", "--enable-v2=false"), env)
    assert config.name == "m1" and config.enable_v2
    via_env = load_config([], {"ETCD_CONFIG_FILE": path, "ETCD_NAME": "x"})
    assert isinstance(via_env, Config) and via_env.name == "m1"


def test_defaults_and_listen_without_advertise(tmp_path: Path) -> None:
    """etcd's file mode never asks for --advertise-client-urls (its defaults are 'set')."""
    path = _write(tmp_path, "listen-client-urls: http://127.0.0.1:4001\ncors: ''\n")
    config = _load(path)
    assert config.name == "default" and config.advertise_client_urls == ("http://localhost:2379",)
    assert config.snapshot_count == 100000 and config.cors == ("*",)


# (file text, real etcd 3.4.23's message after `error verifying flags, `)
ETCD_REFUSALS = [
    (
        'heartbeat-interval: "abc"\n',
        "error unmarshaling JSON: while decoding JSON: json: cannot "
        "unmarshal string into Go struct field configYAML.heartbeat-interval of type uint",
    ),
    (
        "heartbeat-interval: -5\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot "
        "unmarshal number -5 into Go struct field configYAML.heartbeat-interval of type uint",
    ),
    (
        "grpc-keepalive-min-time: 5s\n",
        "error unmarshaling JSON: while decoding JSON: json: "
        "cannot unmarshal string into Go struct field configYAML.grpc-keepalive-min-time of type "
        "time.Duration",
    ),
    (
        "enable-v2: 1\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        "number into Go struct field configYAML.enable-v2 of type bool",
    ),
    ("heartbeat-interval: 0\n", "--heartbeat-interval must be >0 (set to 0ms)"),
]


@pytest.mark.parametrize(("text", "message"), ETCD_REFUSALS)
def test_refusals_in_etcds_words(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(["--config-file", path], {})
    assert caught.value.message == f"error verifying flags, {message}. See 'pyetcd --help'."
    if shutil.which("etcd") is not None:  # the literal is still what real etcd prints
        done = subprocess.run(["etcd", "--config-file", path], capture_output=True, text=True,
                              timeout=20, check=False, cwd=tmp_path)  # fmt: skip
        assert done.returncode != 0 and f"error verifying flags, {message}." in done.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("hearbeat-interval: 10\n", "unknown key 'hearbeat-interval'"),
        ("name: [a\n", "error converting YAML to JSON: yaml: line 1: expected ',' or ']'"),
        ("peer-transport-security:\n  cert: x\n", "unknown key 'cert' in peer-transport-security"),
        ("- name\n", "cannot unmarshal array into Go value of type embed.configYAML"),
        ("initial-cluster-state: later\n", 'invalid value "later" for initial-cluster-state'),
        ("client-transport-security: yes\n", "configYAML.client-transport-security of type"),
    ],
)
def test_pyetcd_refusals_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(["--config-file", path], {})
    assert needle in caught.value.message and "\n" not in caught.value.message


def _serve(impl: str, tmp_path: Path, text: str) -> tuple[subprocess.Popen[bytes], int]:
    client, peer = free_port(), free_port()
    path = tmp_path / f"{impl}.yml"
    path.write_text(text.format(data=tmp_path / f"{impl}.etcd", client=client, peer=peer))
    env = {**os.environ, "ETCD_NAME": "ignored-env"}
    proc = subprocess.Popen(
        [*command(impl), "--config-file", str(path), "--name", "ignored-flag"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return proc, client


def _members(port: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/v2/members", timeout=1) as resp:
                members = json.loads(resp.read())["members"]
            if members and members[0]["name"]:
                return members
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"nothing served on {port}")


@pytest.mark.skipif(not os.path.exists("/usr/bin/etcd"), reason="NOT RUN: real etcd missing")
def test_same_file_same_member_as_real_etcd(tmp_path: Path) -> None:
    seen = {}
    for impl in ("etcd", "pyetcd"):
        proc, client = _serve(impl, tmp_path, BASE)
        try:
            (member,) = _members(client)
            seen[impl] = (member["name"], member["clientURLs"] == [f"http://{HOST}:{client}"])
        finally:
            proc.kill()
            proc.wait()
    assert seen["etcd"] == seen["pyetcd"] == ("m1", True)
    for impl in ("etcd", "pyetcd"):
        path = tmp_path / "bad.yml"
        path.write_text("heartbeat-interval: nope\n")
        done = subprocess.run([*command(impl), "--config-file", str(path)], capture_output=True,
                              timeout=20, check=False)  # fmt: skip
        assert done.returncode != 0
        assert b"configYAML.heartbeat-interval of type uint" in done.stderr
