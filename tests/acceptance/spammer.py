"""EATS's spammer, stricter: a write every 50 ms while a scenario runs, each through a client
that tries the deployment's members in turn (as go-etcd tries its machines), and at the end one
`quorum=true` read of everything written, which every acknowledged write must be in."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from tests.acceptance.harness import Director, enter_netns, request

INTERVAL = 0.05
WRITE_BUDGET = 3.0  # one write: every member tried, each request this long at most
REQUEST_TIMEOUT = 1.0
MAX_WRITES = 20_000  # bounds the loop whatever happens


@dataclass(frozen=True)
class Figures:
    label: str
    acknowledged: int
    failed: int
    lost: int
    restarts: int
    failures: tuple[str, ...]
    missing: tuple[str, ...]
    sole_restarts: int = 0  # restarts of a deployment's only member: an outage by definition
    failed_in_outages: int = 0  # failed writes that overlapped such a restart
    outage_seconds: tuple[float, ...] = ()  # each such restart, drain to post-start done

    def line(self) -> str:
        text = (f"spammer {self.label}: acknowledged={self.acknowledged} failed={self.failed} "
                f"lost={self.lost} instance_restarts={self.restarts}")  # fmt: skip
        if self.sole_restarts:
            took = ", ".join(f"{s:.1f} s" for s in self.outage_seconds)
            text += (f" ({self.failed_in_outages} failed while the only member restarted, "
                     f"{self.sole_restarts} such restarts: {took})")  # fmt: skip
        return text

    def check(self) -> None:
        """The pass marks: nothing acknowledged is lost, at most one failed write per restart
        of an instance that had peers (a lone member restarting cannot take writes at all, so
        the writes overlapping that outage are counted apart), and writes were made at all."""
        assert self.acknowledged > 0, f"{self.line()}: no write acknowledged"
        assert self.lost == 0, f"{self.line()}: lost {self.missing[:20]}"
        others = self.failed - self.failed_in_outages
        allowed = self.restarts - self.sole_restarts
        assert others <= allowed, f"{self.line()}: failures {self.failures[:10]}"


@dataclass
class Spammer:
    director: Director
    label: str
    acked: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    failed_at: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _turn: int = 0
    _restarts_at_start: int = 0
    _outages_at_start: int = 0

    def __enter__(self) -> Spammer:
        self._restarts_at_start = self.director.restarts
        self._outages_at_start = len(self.director.outages)
        self._thread = threading.Thread(target=self._run, name=f"spammer-{self.label}",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=WRITE_BUDGET * 3)

    def _run(self) -> None:
        enter_netns(self.director.netns.name)
        for n in range(MAX_WRITES):
            if self._stop.is_set():
                return
            started = time.monotonic()
            key, value = f"spam-{self.label}/{n:05d}", f"{self.label}-{n}"
            error = self._write(key, value)
            if error is None:
                self.acked[key] = value
            else:
                self.failures.append(f"{key}: {error}")
                self.failed_at.append((started, time.monotonic()))
            self._stop.wait(max(0.0, INTERVAL - (time.monotonic() - started)))

    def _write(self, key: str, value: str) -> str | None:
        """None when a member acknowledged the write, else what the members said."""
        deadline = time.monotonic() + WRITE_BUDGET
        said = []
        indices = sorted(self.director.vms)
        for attempt in range(len(indices)):
            if time.monotonic() >= deadline:
                break
            index = indices[(self._turn + attempt) % len(indices)]
            vm = self.director.vms.get(index)
            if vm is None:
                continue
            try:
                reply = request(
                    vm,
                    "PUT",
                    f"/v2/keys/{key}",
                    f"value={value}",
                    timeout=min(REQUEST_TIMEOUT, deadline - time.monotonic()),
                )
            except (OSError, ValueError) as exc:
                said.append(f"{index}: {exc!r}")
                continue
            if reply.status in (200, 201):
                self._turn = (self._turn + attempt) % len(indices)
                return None
            said.append(f"{index}: {reply.status} {reply.body}")
        self._turn += 1
        return "; ".join(said) or "no member to write to"

    def figures(self) -> Figures:
        """Stops writing, reads every written key back with one quorum read, counts."""
        self.__exit__()
        stored = self._read_back()
        missing = tuple(k for k, v in sorted(self.acked.items()) if stored.get(k) != v)
        restarts = self.director.restarts - self._restarts_at_start
        outages = self.director.outages[self._outages_at_start :]
        in_outages = sum(
            any(start <= end_o and end >= start_o for start_o, end_o in outages)
            for start, end in self.failed_at
        )
        return Figures(self.label, len(self.acked), len(self.failures), len(missing), restarts,
                       tuple(self.failures), missing, len(outages), in_outages,
                       tuple(end - start for start, end in outages))  # fmt: skip

    def _read_back(self) -> dict[str, str]:
        errors = []
        for index in self.director.live():
            with contextlib.suppress(KeyError):
                try:
                    reply = self.director.call(
                        index, "GET", f"/v2/keys/spam-{self.label}?recursive=true&quorum=true",
                        timeout=30.0,
                    )  # fmt: skip
                except OSError as exc:
                    errors.append(f"{index}: {exc!r}")
                    continue
                if reply.status == 200:
                    nodes = reply.body["node"].get("nodes", [])
                    return {n["key"].lstrip("/"): n["value"] for n in nodes}
                if reply.status == 404 and not self.acked:
                    return {}
                errors.append(f"{index}: {reply.status} {reply.body}")
        raise AssertionError(f"spammer {self.label}: no quorum read answered: {errors}")
