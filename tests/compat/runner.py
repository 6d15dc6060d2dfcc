"""Run scenarios on fresh members of two implementations and compare the normalised records."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from typing import Any

from tests import procs
from tests.compat import rawhttp
from tests.compat.dsl import Await, Bulk, KeepAlive, Req, Scenario, Step, substitute
from tests.compat.normalise import Context, Identity, first_difference, record

HEADERS_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The comparison of one scenario: `difference` is None when the records are equal."""

    name: str
    reference: tuple[Any, ...]
    candidate: tuple[Any, ...]
    difference: str | None


def _identity(member: procs.Member) -> Identity:
    return Identity(member.client_port, member.peer_port, member.member_id, member.cluster_id)


def _describe(step: Step) -> str:
    if isinstance(step, Req):
        shown = f"{step.method} {step.target}"
        return f"{shown} <{step.body[:60]!r}>" if step.body else shown
    if isinstance(step, Bulk):
        return f"{step.count}x {step.method} {step.target}"
    return repr(step)


class _Session:
    """Executes one scenario's steps against one member."""

    def __init__(self, member: procs.Member) -> None:
        self.member = member
        self.ident = _identity(member)
        self.background: dict[str, tuple[Req, asyncio.Task[rawhttp.Response] | str]] = {}
        self.records: list[tuple[str, Any]] = []

    def _fill(self, text: str) -> str:
        m = self.member
        return substitute(text, m.member_id, m.peer_url, m.client_url)

    async def _send(
        self, step: Req, conn: rawhttp.Connection | None = None, close: bool = True
    ) -> rawhttp.PendingResponse:
        if conn is None:
            conn = await rawhttp.connect(self.member.client_port)
        return await rawhttp.send_on(
            conn,
            step.method,
            self._fill(step.target),
            headers=step.headers,
            body=self._fill(step.body.decode("latin-1")).encode("latin-1"),
            timeout=HEADERS_TIMEOUT if step.label else step.timeout,
            close=close,
        )

    def _note(self, step: Req, resp: rawhttp.Response | str) -> None:
        if isinstance(resp, str):
            self.records.append((_describe(step), ("no-response",)))
            return
        ctx = Context.of(step.method, step.target)
        self.records.append((_describe(step), record(resp, ctx, self.ident)))

    async def run(self, steps: tuple[Step, ...]) -> tuple[tuple[str, Any], ...]:
        try:
            for step in steps:
                await self._step(step)
        finally:
            for _, task in self.background.values():
                if isinstance(task, asyncio.Task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return tuple(self.records)

    async def _step(self, step: Step) -> None:
        if isinstance(step, Bulk):
            await self._bulk(step)
        elif isinstance(step, KeepAlive):
            await self._keepalive(step)
        elif isinstance(step, Await):
            started, task = self.background.pop(step.label)
            self._note(started, task if isinstance(task, str) else await task)
        elif step.label is not None:
            try:
                pending = await self._send(step)
            except rawhttp.NoResponse as exc:
                self.background[step.label] = (step, str(exc))
                return
            finish = pending.finish(step.timeout, step.max_lines)
            self.background[step.label] = (step, asyncio.create_task(finish))
        else:
            try:
                resp: rawhttp.Response | str = await (await self._send(step)).finish(step.timeout)
            except rawhttp.NoResponse as exc:
                resp = str(exc)
            self._note(step, resp)

    async def _keepalive(self, step: KeepAlive) -> None:
        """Each request waits for the previous response; a closed connection ends the run."""
        try:
            conn = await rawhttp.connect(self.member.client_port)
        except rawhttp.NoResponse as exc:
            self._note(step.requests[0], str(exc))
            return
        try:
            for i, request in enumerate(step.requests):
                last = i == len(step.requests) - 1
                try:
                    pending = await self._send(request, conn, close=last)
                    resp = await pending.finish(request.timeout)
                except rawhttp.NoResponse as exc:
                    self._note(request, str(exc))
                    return
                self._note(request, resp)
                if not resp.complete:
                    return
        finally:
            await conn.close()

    async def _bulk(self, step: Bulk) -> None:
        statuses: collections.Counter[int] = collections.Counter()
        last_index = None
        for i in range(step.count):
            body = step.body.format(i=i).encode()
            headers = (("Content-Type", "application/x-www-form-urlencoded"),) if body else ()
            try:
                resp = await rawhttp.request(
                    self.member.client_port,
                    step.method,
                    step.target.format(i=i),
                    headers=headers,
                    body=body,
                )
            except rawhttp.NoResponse:
                statuses[0] += 1
                continue
            statuses[resp.status] += 1
            last_index = resp.header("X-Etcd-Index")
        self.records.append((_describe(step), (tuple(sorted(statuses.items())), last_index)))


async def run_on(scenario: Scenario, member: procs.Member) -> tuple[Any, ...]:
    return await _Session(member).run(scenario.steps)


async def compare(scenario: Scenario, reference: str, candidate: str) -> Outcome:
    """Run `scenario` on a fresh member of each implementation, concurrently."""
    async with contextlib.AsyncExitStack() as stack:
        started = await asyncio.gather(
            stack.enter_async_context(procs.running_member_async(reference)),
            stack.enter_async_context(procs.running_member_async(candidate)),
            return_exceptions=True,
        )
        for result in started:
            if isinstance(result, BaseException):
                raise result
        ref_member, cand_member = started
        ref, cand = await asyncio.gather(
            run_on(scenario, ref_member), run_on(scenario, cand_member)
        )
    return Outcome(scenario.name, ref, cand, first_difference(ref, cand))


async def compare_all(
    scenarios: list[Scenario], reference: str, candidate: str, concurrency: int
) -> dict[str, Outcome | str]:
    """Compare many scenarios, at most `concurrency` at a time; errors become strings."""
    gate = asyncio.Semaphore(concurrency)

    async def one(s: Scenario) -> tuple[str, Outcome | str]:
        async with gate:
            try:
                return s.name, await compare(s, reference, candidate)
            except procs.MemberStartError as exc:
                return s.name, f"member start failed: {exc}"

    return dict(await asyncio.gather(*(one(s) for s in scenarios)))
