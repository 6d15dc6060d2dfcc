"""A stand-in for bpm inside a test instance (`bpm start|stop|pid <job>`), enough for the
contract: processes from config/bpm.yml, SIGTERM on stop and SIGKILL 20 s later.

Installed as the instance's /var/vcap/jobs/bpm/bin/bpm; each process gets its own session, so
stop ends everything it started (as bpm ends the whole container)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import yaml

KILL_AFTER = 20.0


def _pidfile(job: str) -> str:
    return f"/var/vcap/sys/run/bpm/{job}/{job}.pid"


def _pid(job: str) -> int | None:
    try:
        with open(_pidfile(job)) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(job: str) -> int:
    if _pid(job) is not None:
        return 0
    with open(f"/var/vcap/jobs/{job}/config/bpm.yml") as fh:
        (process,) = yaml.safe_load(fh)["processes"]
    logs = f"/var/vcap/sys/log/{job}"
    os.makedirs(logs, exist_ok=True)
    os.makedirs(os.path.dirname(_pidfile(job)), exist_ok=True)
    with (
        open(f"{logs}/{job}.stdout.log", "ab") as out,
        open(f"{logs}/{job}.stderr.log", "ab") as err,
    ):
        proc = subprocess.Popen(
            [process["executable"], *process.get("args", [])],
            env={**os.environ, **process.get("env", {})},
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
    with open(_pidfile(job), "w") as fh:
        fh.write(str(proc.pid))
    return 0


def stop(job: str) -> int:
    pid = _pid(job)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_AFTER
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_pidfile(job))
    return 0


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: probe it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    return waited == 0


def main(argv: list[str]) -> int:
    command, job = argv
    if command == "start":
        return start(job)
    if command == "stop":
        return stop(job)
    pid = _pid(job)
    if pid is None:
        return 1
    print(pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
