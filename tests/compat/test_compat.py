"""Differential suite: every scenario on a fresh real etcd and a fresh candidate member.

COMPAT_TARGET picks the candidate (default `pyetcd`; `etcd` self-tests the normalisation),
COMPAT_CONCURRENCY the number of scenarios in flight, COMPAT_REPORT a Markdown file to
write every difference to.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil

import pytest

from tests import procs
from tests.compat.catalogue import BY_NAME
from tests.compat.report import write_report
from tests.compat.runner import Outcome, compare_all

if shutil.which("etcd") is None:
    pytest.skip(
        "real etcd (Debian etcd-server 3.4.23) is not installed: the compat oracle is missing",
        allow_module_level=True,
    )

TARGET = os.environ.get("COMPAT_TARGET", "pyetcd")
CONCURRENCY = int(os.environ.get("COMPAT_CONCURRENCY", "4"))
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def outcomes(request: pytest.FixtureRequest) -> dict[str, Outcome | str]:
    """Run every selected scenario once, concurrently, before the first comparison is checked."""
    names = [
        item.callspec.params["name"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_scenario" and hasattr(item, "callspec")
    ]
    results = asyncio.run(compare_all([BY_NAME[n] for n in names], "etcd", TARGET, CONCURRENCY))
    report = os.environ.get("COMPAT_REPORT")
    if report:
        write_report(report, TARGET, results)
    return results


@pytest.mark.parametrize("name", list(BY_NAME))
def test_scenario(name: str, outcomes: dict[str, Outcome | str]) -> None:
    outcome = outcomes[name]
    assert not isinstance(outcome, str), outcome
    assert outcome.difference is None, f"{name}: etcd vs {TARGET}: {outcome.difference}"


def test_member_lifecycle_leaves_nothing_behind() -> None:
    """procs: a member answers on its client URL, and stop() kills it and removes its files."""
    with procs.running_member("etcd") as member:
        assert os.path.isdir(member.data_dir)
        conn = http.client.HTTPConnection(procs.HOST, member.client_port, timeout=5)
        conn.request("GET", "/v2/members")
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["members"][0]["id"] == member.member_id
    assert member.proc.poll() is not None
    assert not os.path.exists(member.workdir)
    member.stop()
