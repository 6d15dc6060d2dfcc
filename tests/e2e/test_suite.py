"""The tier's pure parts: which tests it runs, how a `go test -v` run is judged, the report."""

from __future__ import annotations

import re

import pytest

from tests.e2e import suite

PASSING = "=== RUN   TestCtlV2Set\n--- PASS: TestCtlV2Set (0.58s)\nPASS\n"
FAILING = (
    "=== RUN   TestV2CurlClientBoth\n"
    "    v2_curl_test.go:43: could not start etcd process cluster (read /dev/ptmx: i/o error)\n"
    "--- FAIL: TestV2CurlClientBoth (0.41s)\nFAIL\n"
)


def test_the_tier_is_the_28_v2_tests_less_the_v3_backups() -> None:
    assert len(suite.V2_TESTS) == len(set(suite.V2_TESTS)) == 28
    assert all(re.match(r"Test(CtlV2|V2Curl)", n) for n in suite.V2_TESTS)
    assert not set(suite.EXCLUDED) & set(suite.V2_TESTS)
    assert sorted(suite.EXCLUDED) == [
        "TestCtlV2Backup",
        "TestCtlV2BackupSnapshot",
        "TestCtlV2BackupV3",
        "TestCtlV2BackupV3Snapshot",
    ]


def test_select_filters_by_regex_and_defaults_to_all() -> None:
    assert suite.select(None) == suite.V2_TESTS
    assert suite.select("Watch") == ("TestCtlV2Watch", "TestCtlV2WatchTLS")
    assert suite.select("NoSuchTest") == ()


def test_run_regex_selects_one_test_not_its_prefix_family() -> None:
    rx = re.compile(suite.run_regex("TestCtlV2Set"))
    assert rx.search("TestCtlV2Set")
    assert not rx.search("TestCtlV2SetTLS")


def test_a_pass_needs_the_verdict_and_exit_zero() -> None:
    assert suite.outcome("TestCtlV2Set", PASSING, 0) == suite.Outcome("TestCtlV2Set", True, 0.58)
    leaked = suite.outcome("TestCtlV2Set", PASSING + "Too many goroutines running\n", 1)
    assert not leaked.passed
    assert leaked.detail[0] == "passed but exited 1"


def test_a_failure_carries_the_tests_own_message() -> None:
    got = suite.outcome("TestV2CurlClientBoth", FAILING, 1)
    assert (got.passed, got.seconds) == (False, 0.41)
    assert got.detail == (
        "v2_curl_test.go:43: could not start etcd process cluster (read /dev/ptmx: i/o error)",
    )


@pytest.mark.parametrize(
    ("output", "returncode", "reason"),
    [
        ("=== RUN   TestCtlV2Set\npanic: test timed out after 2m30s\n", 2, "no verdict"),
        ("=== RUN   TestCtlV2Set\n", None, "killed: no result before the deadline"),
        ("--- SKIP: TestCtlV2Set (0.00s)\n", 0, "skipped by the Go test"),
        ("--- PASS: TestCtlV2SetTLS (0.10s)\n", 0, "no verdict"),
    ],
)
def test_no_pass_without_a_pass_verdict(output: str, returncode: int | None, reason: str) -> None:
    got = suite.outcome("TestCtlV2Set", output, returncode)
    assert not got.passed
    assert any(line.startswith(reason) for line in got.detail)


def test_table_lists_every_test_then_why_each_failure_failed() -> None:
    outcomes = [
        suite.outcome("TestCtlV2Set", PASSING, 0),
        suite.outcome("TestV2CurlClientBoth", FAILING, 1),
    ]
    text = suite.table(outcomes)
    assert re.search(r"^TestCtlV2Set +PASS +0\.58s$", text, re.M)
    assert re.search(r"^TestV2CurlClientBoth +FAIL +0\.41s$", text, re.M)
    assert "TestV2CurlClientBoth:\n  v2_curl_test.go:43: could not start" in text
    assert suite.summary(outcomes) == "1 passed, 1 failed"
