"""The lifecycle's observations against real processes: a real etcd (what etcd-release runs)
is recognised as not a pyetcd member before this member would add itself to its cluster."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from pyetcd.lifecycle import Member, Self, StartAction, StartKind
from pyetcd.lifecycle_client import Client
from pyetcd.lifecycle_io import (
    Settings,
    drain,
    foreign_member,
    main,
    post_start,
    write_member_config,
)
from tests.procs import running_member


def _settings(
    tmp_path: Path, client_url: str = "http://127.0.0.1:1", peer_url: str = "http://127.0.0.1:2"
) -> Settings:
    config = tmp_path / "etcd.yml"
    config.write_text(
        "name: etcd-1\nlisten-client-urls: http://127.0.0.1:1\n"
        "advertise-client-urls: http://127.0.0.1:1\nlisten-peer-urls: http://127.0.0.1:2\n"
        "initial-advertise-peer-urls: http://127.0.0.1:2\n"
    )
    return Settings(
        me=Self("etcd-1", peer_url), client_url=client_url,
        bootstrap=False, peers=(), data_dir=str(tmp_path / "d"), marker=str(tmp_path / "m"),
        config_file=str(config), run_dir=str(tmp_path), log_dir=str(tmp_path), dirs=(),
        post_start_timeout=1, diagnostics_seconds=0, dns_health_check_host="", client_tls=None,
        certs=(),
    )  # fmt: skip


def test_each_founding_is_a_cluster_of_its_own(tmp_path: Path) -> None:
    """A bootstrap instance whose whole store was wiped founds again: its cluster must not get
    the first one's ids (found by tests/acceptance's forced split brain, which then tripped no
    detector), while a restart keeps the rendered token."""
    (tmp_path / "run").mkdir()
    settings = dataclasses.replace(_settings(tmp_path), run_dir=str(tmp_path / "run"))
    found = StartAction(StartKind.FOUND, "", (("etcd-1", "http://127.0.0.1:2"),))
    tokens = {yaml.safe_load(Path(write_member_config(settings, found)).read_text())
              ["initial-cluster-token"] for _ in range(2)}  # fmt: skip
    assert len(tokens) == 2 and all(t.startswith("etcd-cluster-") for t in tokens)
    restart = StartAction(StartKind.RESTART, "", (("etcd-1", "http://127.0.0.1:2"),))
    written = yaml.safe_load(Path(write_member_config(settings, restart)).read_text())
    assert "initial-cluster-token" not in written


def _answer(client_url: str) -> tuple[Member, ...]:
    members = Client(None).members(client_url)
    assert members
    return members


@pytest.mark.skipif(shutil.which("etcd") is None, reason="NOT RUN: real etcd missing")
def test_real_etcd_is_foreign(tmp_path: Path) -> None:
    with running_member("etcd") as etcd:
        found = foreign_member(_settings(tmp_path), _answer(etcd.client_url))
    assert found == f"n1 ({etcd.peer_url})"


def test_pyetcd_is_not_foreign(tmp_path: Path) -> None:
    with running_member("pyetcd") as member:
        assert foreign_member(_settings(tmp_path), _answer(member.client_url)) == ""


def test_unreachable_peer_is_not_called_foreign(tmp_path: Path) -> None:
    gone = (Member("x", "etcd-0", ("http://127.0.0.1:9",)),)
    assert foreign_member(_settings(tmp_path), gone) == ""


def test_post_start_fixes_the_peer_url_and_marks_the_disk(tmp_path: Path) -> None:
    """A member advertising another peer URL than it should (a rename with DNS names) gets a
    member update, as cfcr-etcd-release does, and then post-start succeeds."""
    with running_member("pyetcd", name="etcd-1") as member:
        wanted = "http://127.0.0.1:17001"
        settings = _settings(tmp_path, member.client_url, wanted)
        post_start(settings)
        (mine,) = _answer(member.client_url)
        assert mine.peer_urls == (wanted,)
        assert Path(settings.marker).exists()


def test_drain_of_the_last_member_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_member("pyetcd", name="etcd-1") as member:
        settings = _settings(tmp_path, member.client_url, member.peer_url)
        drain(settings, member.proc.pid, '{"persistent_disk": 0}')
        assert capsys.readouterr().out == "0\n"
        assert len(_answer(member.client_url)) == 1


def test_cli_failures_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pre-start", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyetcd-lifecycle pre-start: cannot read ") and err.count("\n") == 1
    (tmp_path / "bad.json").write_text("{}")
    assert main(["post-start", str(tmp_path / "bad.json")]) == 1
    assert "not a lifecycle file" in capsys.readouterr().err
