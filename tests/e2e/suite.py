"""Which of etcd 3.4.23's e2e tests form the v2 tier, and how to read `go test -v` output.

Pure: names, the reasons for what is left out, outcome parsing and the report text. The I/O
(building, running, cleaning up) is in `runner.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# tests/e2e/ctl_v2_test.go (etcdctl v2 against a 1- or 3-member cluster) and v2_curl_test.go.
V2_TESTS: tuple[str, ...] = (
    "TestCtlV2Set",
    "TestCtlV2SetQuorum",
    "TestCtlV2SetClientTLS",
    "TestCtlV2SetPeerTLS",
    "TestCtlV2SetTLS",
    "TestCtlV2Mk",
    "TestCtlV2MkQuorum",
    "TestCtlV2MkTLS",
    "TestCtlV2Rm",
    "TestCtlV2RmTLS",
    "TestCtlV2Ls",
    "TestCtlV2LsQuorum",
    "TestCtlV2LsTLS",
    "TestCtlV2Watch",
    "TestCtlV2WatchTLS",
    "TestCtlV2GetRoleUser",
    "TestCtlV2UserListUsername",
    "TestCtlV2UserListRoot",
    "TestCtlV2RoleList",
    "TestCtlV2AuthWithCommonName",
    "TestCtlV2ClusterHealth",
    "TestV2CurlNoTLS",
    "TestV2CurlAutoTLS",
    "TestV2CurlAllTLS",
    "TestV2CurlPeerTLS",
    "TestV2CurlClientTLS",
    "TestV2CurlClientBoth",
    "TestV2CurlIssue5182",
)

# The v2-named tests that are not in the tier, with the reason an operator can check.
EXCLUDED: dict[str, str] = {
    name: "writes and reads a key over the v3 gRPC API (ETCDCTL_API=3 etcdctl put/get), which "
    "pyetcd does not serve, and `etcdctl backup` reads etcd's own WAL/snap format from the data "
    "dir, which pyetcd does not write"
    for name in (
        "TestCtlV2Backup",
        "TestCtlV2BackupSnapshot",
        "TestCtlV2BackupV3",
        "TestCtlV2BackupV3Snapshot",
    )
}

_VERDICT = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)")
_TEST_LOG = re.compile(r"^    \S+\.go:\d+: ")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One test's result; `detail` says why it failed (empty when it passed)."""

    name: str
    passed: bool
    seconds: float | None
    detail: tuple[str, ...] = ()


def select(pattern: str | None) -> tuple[str, ...]:
    """The tier's tests whose name matches `pattern` (all of them without one)."""
    if not pattern:
        return V2_TESTS
    rx = re.compile(pattern)
    return tuple(name for name in V2_TESTS if rx.search(name))


def run_regex(name: str) -> str:
    """The `-test.run` value that selects exactly one top-level test."""
    return f"^{re.escape(name)}$"


def outcome(name: str, output: str, returncode: int | None) -> Outcome:
    """Judge one `e2e.test -test.v -test.run ^name$` run.

    `returncode` None means the run was killed at the runner's deadline. A test passes only if
    Go printed `--- PASS` for it and the binary exited 0 (TestMain fails a run that leaks
    goroutines after a passing test, and a skipped test is not a pass).
    """
    lines = output.splitlines()
    verdict, seconds = None, None
    for line in lines:
        m = _VERDICT.match(line)
        if m and m.group(2) == name:
            verdict, seconds = m.group(1), float(m.group(3))
    logged = tuple(line.strip() for line in lines if _TEST_LOG.match(line))
    if returncode is None:
        return Outcome(name, False, seconds, (*logged, "killed: no result before the deadline"))
    if verdict == "PASS" and returncode == 0:
        return Outcome(name, True, seconds)
    if verdict == "SKIP":
        return Outcome(name, False, seconds, (*logged, "skipped by the Go test"))
    if verdict is None:
        tail = tuple(line.strip() for line in lines[-5:] if line.strip())
        return Outcome(name, False, seconds, ("no verdict from go test", *tail))
    if verdict == "PASS":
        tail = tuple(line.strip() for line in lines[-3:] if line.strip())
        return Outcome(name, False, seconds, (f"passed but exited {returncode}", *tail))
    return Outcome(name, False, seconds, logged or ("failed without a message",))


def table(outcomes: Sequence[Outcome]) -> str:
    """The pass/fail table, one row per test, then the failures' reasons."""
    width = max((len(o.name) for o in outcomes), default=4)
    rows = [f"{'test':<{width}}  result  time"]
    for o in outcomes:
        took = "-" if o.seconds is None else f"{o.seconds:.2f}s"
        rows.append(f"{o.name:<{width}}  {'PASS' if o.passed else 'FAIL':<6}  {took}")
    for o in outcomes:
        if not o.passed:
            rows.append("")
            rows.append(f"{o.name}:")
            rows.extend(f"  {line}" for line in o.detail)
    return "\n".join(rows)


def summary(outcomes: Iterable[Outcome]) -> str:
    """The final `N passed, N failed` line."""
    results = [o.passed for o in outcomes]
    return f"{sum(results)} passed, {len(results) - sum(results)} failed"
