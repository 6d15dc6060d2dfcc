"""Build etcd 3.4.23's e2e test binary offline and run the v2 tier against pyetcd.

etcd's framework starts `<bin-dir>/etcd` and `<bin-dir>/etcdctl` on the fixed ports
20000-20011 of localhost and waits for etcd's readiness log lines; the bin dir made here holds
a wrapper named `etcd` that runs pyetcd (or real etcd, for `--against etcd`) and logs what the
member printed, next to Debian's real etcdctl. Each test runs in its own `e2e.test` process so
that one failure (which can leave a member running: etcd's `t.Fatal` skips the cleanup) cannot
cascade; members left behind are killed by pid after every test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from tests.e2e import suite

GOPATH = Path("/usr/share/gocode")
PACKAGE = "go.etcd.io/etcd/tests/e2e"
ETCD_SOURCE = GOPATH / "src/go.etcd.io/etcd"
FIXTURES = ETCD_SOURCE / "integration/fixtures"
# golang-etcd-server-dev depends on every Go package the e2e tests import.
APT_PACKAGES = ("golang-go", "golang-etcd-server-dev", "etcd-server", "etcd-client", "curl")
# etcd's framework: member i listens on 20000+5i (client) and 20001+5i (peer), 3 members at most.
PORTS = tuple(20000 + 5 * i + k for i in range(3) for k in (0, 1))
TEST_DEADLINE = 150  # seconds, per test, inside go test; the runner allows a little more
NOT_RUN = 2


class NotRun(Exception):
    """The tier cannot run here (missing toolchain, source, tools or ports); never a pass."""


def build_key(go_version: str, version_go: bytes, sources: Iterable[tuple[str, int]]) -> str:
    """Name of the cached test binary: changes with Go, the etcd source or its e2e files."""
    h = hashlib.sha256(go_version.encode() + b"\0" + version_go)
    for name, mtime_ns in sorted(sources):
        h.update(f"\0{name}:{mtime_ns}".encode())
    return f"e2e-{h.hexdigest()[:16]}.test"


def wrapper_script(argv: list[str]) -> str:
    """The `etcd` the framework starts: logs its output to $PYETCD_E2E_LOGS/member-<pid>.log.

    `exec` keeps the pid, so the framework's SIGKILL reaches the member itself.
    """
    return "\n".join(
        (
            "#!/usr/bin/env bash",
            'log="${PYETCD_E2E_LOGS:?}/member-$$.log"',
            'printf \'argv: %s\\n\' "$*" > "$log"',
            'exec > >(exec tee -a "$log") 2>&1',
            f'exec {shlex.join(argv)} "$@"',
            "",
        )
    )


def missing_tools() -> list[str]:
    """What the tier needs and this machine lacks."""
    needs = {
        "go (Debian golang-go)": shutil.which("go") is not None,
        f"{PACKAGE} source (Debian golang-etcd-server-dev)": (ETCD_SOURCE / "tests/e2e").is_dir(),
        "etcdctl (Debian etcd-client)": shutil.which("etcdctl") is not None,
        "curl": shutil.which("curl") is not None,
        "bash": shutil.which("bash") is not None,
    }
    return [what for what, present in needs.items() if not present]


def ensure_tools() -> None:
    """Install what is missing with apt-get when we are root; otherwise refuse to run."""
    lacking = missing_tools()
    if not lacking:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NotRun(f"missing {', '.join(lacking)} and not root with apt-get to install them")
    print(f"e2e: installing {' '.join(APT_PACKAGES)} (missing: {', '.join(lacking)})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *APT_PACKAGES]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise NotRun(f"`{shlex.join(cmd)}` failed; still missing {', '.join(lacking)}")
    lacking = missing_tools()
    if lacking:
        raise NotRun(f"still missing {', '.join(lacking)} after apt-get install")


def go_env(cache: Path) -> dict[str, str]:
    """GOPATH mode over Debian's packaged sources: no modules, no network."""
    return {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOCACHE": str(cache / "gocache"),
    }


def e2e_binary(cache: Path, rebuild: bool) -> Path:
    """The e2e test binary, built with `go test -c` unless a current one is cached."""
    env = go_env(cache)
    go_version = subprocess.run(
        ["go", "version"], env=env, capture_output=True, text=True, check=True
    ).stdout
    e2e_dir = ETCD_SOURCE / "tests/e2e"
    sources = [(p.name, p.stat().st_mtime_ns) for p in e2e_dir.glob("*.go")]
    key = build_key(go_version, (ETCD_SOURCE / "version/version.go").read_bytes(), sources)
    binary = cache / key
    if binary.exists() and not rebuild:
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    print(f"e2e: building {PACKAGE} with {go_version.strip()} (GOPATH mode, offline)", flush=True)
    partial = cache / f"{key}.partial"
    built = subprocess.run(
        ["go", "test", "-c", PACKAGE, "-o", str(partial)],
        env=env,
        cwd=cache,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        partial.unlink(missing_ok=True)
        raise NotRun(f"go test -c {PACKAGE} failed:\n{(built.stdout + built.stderr).strip()}")
    partial.replace(binary)
    for stale in cache.glob("e2e-*.test"):
        if stale != binary:
            stale.unlink()
    return binary


def busy_ports(ports: Iterable[int]) -> list[int]:
    """The framework's fixed ports that something on this machine already listens on."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def make_bin_dir(workdir: Path, against: str) -> Path:
    """`etcd` (wrapper for pyetcd or real etcd) and `etcdctl` (Debian's) for `-bin-dir`."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    if against == "pyetcd":
        argv = [sys.executable, "-m", "pyetcd"]
    else:
        etcd = shutil.which("etcd")
        if etcd is None:
            raise NotRun("--against etcd needs Debian's etcd (etcd-server)")
        argv = [etcd]
    wrapper = bin_dir / "etcd"
    wrapper.write_text(wrapper_script(argv))
    wrapper.chmod(0o755)
    (bin_dir / "etcdctl").symlink_to(shutil.which("etcdctl") or "etcdctl")
    return bin_dir


def member_pids(logs: Path) -> list[int]:
    """Pids of the members a test started (the wrapper names each log after its pid)."""
    return sorted(int(p.stem.removeprefix("member-")) for p in logs.glob("member-*.log"))


def reap(pids: Iterable[int], workdir: Path) -> None:
    """SIGKILL members that outlived their test: only processes whose argv names our workdir."""
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(workdir).encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def member_tails(logs: Path, lines: int = 2) -> tuple[str, ...]:
    """The last lines each member printed, for a failed test's report."""
    out = []
    for pid in member_pids(logs):
        text = (logs / f"member-{pid}.log").read_text(errors="replace").splitlines()[1:]
        out.extend(f"member {pid}: {line}" for line in text[-lines:])
    return tuple(out)


def run_one(
    binary: Path, name: str, bin_dir: Path, workdir: Path, env: Mapping[str, str]
) -> suite.Outcome:
    """One test in its own e2e.test process; members it leaves behind are killed."""
    logs = workdir / "logs" / name
    logs.mkdir(parents=True)
    cmd = [
        str(binary),
        "-test.run",
        suite.run_regex(name),
        "-test.v",
        "-test.timeout",
        f"{TEST_DEADLINE}s",
        "-bin-dir",
        str(bin_dir),
        "-cert-dir",
        str(FIXTURES),
    ]
    try:
        done = subprocess.run(
            cmd,
            env={**env, "PYETCD_E2E_LOGS": str(logs)},
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=TEST_DEADLINE + 30,
        )
        result = suite.outcome(name, done.stdout + done.stderr, done.returncode)
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace")
        result = suite.outcome(name, output, None)
    finally:
        reap(member_pids(logs), workdir)
    (logs / "go-test.log").write_text(" ".join(cmd) + "\n")
    if result.passed:
        return result
    return replace(result, detail=result.detail + member_tails(logs))


def member_env() -> dict[str, str]:
    """The caller's environment without ETCD_* (members would read them as flags)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}


def run_tier(names: tuple[str, ...], against: str, rebuild: bool, keep: bool) -> int:
    """Build, run, print the table; 0 when every test passed, 1 otherwise."""
    ensure_tools()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyetcd-e2e"
    binary = e2e_binary(cache, rebuild)
    busy = busy_ports(PORTS)
    if busy:
        raise NotRun(f"ports {busy} (fixed by etcd's e2e framework) are in use on this machine")
    workdir = Path(tempfile.mkdtemp(prefix="pyetcd-e2e-"))
    try:
        (workdir / "tmp").mkdir()
        env = {**member_env(), "TMPDIR": str(workdir / "tmp")}
        bin_dir = make_bin_dir(workdir, against)
        print(f"e2e: {len(names)} v2 tests of etcd 3.4.23's tests/e2e against {against}")
        started = time.monotonic()
        outcomes = []
        for i, name in enumerate(names, 1):
            result = run_one(binary, name, bin_dir, workdir, env)
            verdict = "PASS" if result.passed else "FAIL"
            print(f"  [{i}/{len(names)}] {name} {verdict}", flush=True)
            outcomes.append(result)
        elapsed = time.monotonic() - started
    finally:
        if keep:
            shutil.rmtree(workdir / "tmp", ignore_errors=True)
            print(f"e2e: member logs kept in {workdir / 'logs'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(suite.table(outcomes))
    print()
    print(f"took {elapsed:.0f}s")
    print(suite.summary(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/e2e",
        description="Run etcd 3.4.23's own e2e v2 tests (tests/e2e, built offline from Debian's "
        "golang-etcd-server-dev) against pyetcd. Exit 0: all passed; 1: a test failed; "
        "2: not run.",
    )
    parser.add_argument("--run", metavar="REGEX", help="only the tier's tests matching REGEX")
    parser.add_argument(
        "--against",
        choices=("pyetcd", "etcd"),
        default="pyetcd",
        help="the etcd the framework starts (etcd: Debian's, to check the tier itself)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached test binary")
    parser.add_argument("--keep-logs", action="store_true", help="keep each member's output")
    parser.add_argument("--list", action="store_true", help="list the tier and what it leaves out")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(suite.V2_TESTS))
        for name, why in suite.EXCLUDED.items():
            print(f"# not in the tier: {name}: {why}")
        return 0
    names = suite.select(args.run)
    if not names:
        print(f"e2e: no test of the tier matches {args.run!r}", file=sys.stderr)
        return NOT_RUN
    try:
        return run_tier(names, args.against, args.rebuild, args.keep_logs)
    except NotRun as why:
        banner = "=" * 72
        print(f"{banner}\ne2e: NOT RUN: {why}\n{banner}", file=sys.stderr)
        return NOT_RUN
