"""The runner's own pieces: the binary cache key, the `etcd` wrapper, the refusal to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import runner


def test_build_key_changes_with_go_source_and_test_files() -> None:
    base = runner.build_key("go1.19.8", b"3.4.23", [("a_test.go", 1), ("b_test.go", 2)])
    assert base == runner.build_key("go1.19.8", b"3.4.23", [("b_test.go", 2), ("a_test.go", 1)])
    assert base != runner.build_key("go1.20", b"3.4.23", [("a_test.go", 1), ("b_test.go", 2)])
    assert base != runner.build_key("go1.19.8", b"3.4.24", [("a_test.go", 1), ("b_test.go", 2)])
    assert base != runner.build_key("go1.19.8", b"3.4.23", [("a_test.go", 1), ("b_test.go", 3)])


def test_wrapper_keeps_the_pid_and_logs_the_members_output(tmp_path: Path) -> None:
    wrapper = tmp_path / "etcd"
    print_pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    wrapper.write_text(runner.wrapper_script(print_pid))
    wrapper.chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    done = subprocess.run(
        [str(wrapper), "--name", "m 1"],
        env={**os.environ, "PYETCD_E2E_LOGS": str(logs)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    pid = int(done.stdout)
    assert runner.member_pids(logs) == [pid]
    log = (logs / f"member-{pid}.log").read_text().splitlines()
    assert log == ["argv: --name m 1", str(pid)]


def test_missing_tools_without_root_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "missing_tools", lambda: ["go (Debian golang-go)"])
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    with pytest.raises(runner.NotRun, match="missing go"):
        runner.ensure_tools()


def test_not_run_is_loud_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object) -> int:
        raise runner.NotRun("missing curl")

    monkeypatch.setattr(runner, "run_tier", refuse)
    assert runner.main([]) == runner.NOT_RUN
    assert "e2e: NOT RUN: missing curl" in capsys.readouterr().err
