"""`pyetcd-lifecycle`: the BOSH job's pre-start, start, post-start and drain.

The templates render one JSON file (`config/lifecycle.json`: this instance, its linked peers,
paths, the client TLS material) and call `pyetcd-lifecycle <step> <that file>`. This module
observes (data dir, members' `/v2/members`, `/health`, `/v2/stats/self`), asks
`pyetcd.lifecycle` what to do, and does it. Every failure is one line on stderr naming what to
fix, and a non-zero exit, which fails the BOSH deploy at that step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pwd
import secrets
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from pyetcd.config import Config, load_config
from pyetcd.lifecycle import (
    DrainObservation,
    Member,
    PostStartKind,
    PostStartObservation,
    Self,
    StartAction,
    StartKind,
    StartObservation,
    decide_drain,
    decide_post_start,
    decide_start,
    deleting,
)
from pyetcd.lifecycle_checks import check_certs, check_member_config
from pyetcd.lifecycle_client import (
    Client,
    LifecycleError,
    answers_http,
    first_answer,
)
from pyetcd.tlsconfig import TLSConfigError, TLSSettings, build_tls
from raft.aio.fs import OsFS
from raft.aio.recovery import member_dirs
from raft.aio.wal import WAL

PROG = "pyetcd-lifecycle"
RETRY_INTERVAL = 1.0
HAND_OFF_TIMEOUT = 10.0
DIAGNOSTICS_INTERVAL = 3.0
POST_START_POLL = 0.25
REPEAT_LOG_INTERVAL = 30.0
DIR_MODE = 0o700
VCAP = "vcap"


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    client_url: str
    peer_url: str


@dataclass(frozen=True, slots=True)
class Settings:
    """`config/lifecycle.json`, as the job's templates render it."""

    me: Self
    client_url: str
    bootstrap: bool
    peers: tuple[Peer, ...]
    data_dir: str
    marker: str
    config_file: str
    run_dir: str
    log_dir: str
    dirs: tuple[str, ...]
    post_start_timeout: float
    diagnostics_seconds: float
    dns_health_check_host: str
    client_tls: dict[str, str] | None
    certs: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, path: str) -> Settings:
        """The lifecycle file, and this member's name and URLs from the etcd config it names."""
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
            with open(raw["config_file"], encoding="utf-8") as fh:
                member = yaml.safe_load(fh)
            peers = tuple(Peer(p["name"], p["client_url"], p["peer_url"]) for p in raw["peers"])
            return cls(
                me=Self(member["name"], member["initial-advertise-peer-urls"].split(",")[0]),
                client_url=member["advertise-client-urls"].split(",")[0],
                bootstrap=bool(raw["bootstrap"]),
                peers=peers,
                data_dir=member["data-dir"],
                marker=raw["marker"],
                config_file=raw["config_file"],
                run_dir=raw["run_dir"],
                log_dir=raw["log_dir"],
                dirs=tuple(raw["dirs"]),
                post_start_timeout=float(raw["post_start_timeout"]),
                diagnostics_seconds=float(raw["diagnostics_seconds"]),
                dns_health_check_host=raw.get("dns_health_check_host") or "",
                client_tls=raw.get("client_tls"),
                certs=tuple(raw.get("certs", ())),
            )
        except OSError as exc:
            raise LifecycleError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
            raise LifecycleError(f"{path}: not a lifecycle file ({exc!r})") from None


def _log(message: str) -> None:
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    print(f"{stamp} I | lifecycle: {message}", file=sys.stderr, flush=True)


def _peer_client_urls(settings: Settings) -> list[str]:
    return [p.client_url for p in settings.peers if p.peer_url != settings.me.peer_url]


def _vcap() -> tuple[int, int] | None:
    """bpm runs the member as vcap: what it writes and reads must be vcap's (None off a VM)."""
    try:
        user = pwd.getpwnam(VCAP)
    except KeyError:
        return None
    return user.pw_uid, user.pw_gid


def pre_start(settings: Settings) -> None:
    owner = _vcap()
    for path in settings.dirs:
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
        if owner is not None:
            os.chown(path, *owner)
    for path in (settings.data_dir, settings.run_dir):
        os.chmod(path, DIR_MODE)
    for spec in settings.certs:
        os.chmod(spec["key"][1], 0o600)
        if owner is not None:
            os.chown(spec["key"][1], *owner)
    problems = check_member_config(settings.config_file) + check_certs(settings.certs)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        raise LifecycleError(f"{len(problems)} problem(s) in the manifest properties above")
    _log("directories ready, configuration and certificates checked")


# -- start ------------------------------------------------------------------------------------


def _has_data(data_dir: str) -> bool:
    wal_dir, _ = member_dirs(data_dir)
    return WAL.exists(OsFS(), wal_dir)


def _dns_up(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None, family=socket.AF_INET)
    except OSError:
        return False
    return True


def foreign_member(settings: Settings, members: Sequence[Member]) -> str:
    """The first started member whose peer URL speaks etcd's HTTP peer protocol (real etcd, as
    in etcd-release) rather than pyetcd's, as `name (url)`; empty when there is none."""
    config = load_config(["--config-file", settings.config_file], {})
    assert isinstance(config, Config)
    tls = build_tls(TLSSettings.from_config(config)).peer_client_ssl()
    for member in members:
        for url in member.peer_urls if member.name else ():
            if answers_http(url, tls):
                return f"{member.name} ({url})"
    return ""


def observe_start(settings: Settings, client: Client) -> StartObservation:
    has_data = _has_data(settings.data_dir)
    members = first_answer(client, _peer_client_urls(settings))
    return StartObservation(
        me=settings.me,
        has_data=has_data,
        members=members,
        bootstrap=settings.bootstrap,
        first_deploy=not os.path.exists(settings.marker),
        foreign=foreign_member(settings, members) if members and not has_data else "",
    )


def _carry_out(settings: Settings, client: Client, action: StartAction) -> None:
    urls = _peer_client_urls(settings)
    for member_id in action.remove:
        _log(f"removing stale member {member_id}")
        client.change(urls, "DELETE", f"/v2/members/{member_id}")
    if action.add_self:
        _log(f"adding member {settings.me.name} ({settings.me.peer_url})")
        client.change(urls, "POST", "/v2/members", {"peerURLs": [settings.me.peer_url]})


def write_member_config(settings: Settings, action: StartAction) -> str:
    """The rendered etcd config plus the cluster this start decided on, in the run dir."""
    with open(settings.config_file, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    config["initial-cluster"] = ",".join(f"{name}={url}" for name, url in action.initial_cluster)
    config["initial-cluster-state"] = action.cluster_state
    if action.kind is StartKind.FOUND:
        # Member and cluster ids hash the peer URLs and this token: a second founding (a wiped
        # bootstrap disk) must not reproduce the first cluster's ids, or neither raft nor the
        # split-brain detector could tell the two clusters apart.
        token = config.get("initial-cluster-token") or "etcd-cluster"
        config["initial-cluster-token"] = f"{token}-{secrets.token_hex(8)}"
    path = os.path.join(settings.run_dir, "etcd.yml")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, default_flow_style=False)
    os.replace(path + ".tmp", path)
    return path


def start(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> NoReturn:
    """Decide, act, then become the member (exec); waits as long as BOSH lets it."""
    client = Client(settings.client_tls)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    said, said_at = "", 0.0
    while True:
        host = settings.dns_health_check_host
        if host and not _dns_up(host):
            _log(f"DNS is not up: {host} does not resolve; retrying")
            sleep(RETRY_INTERVAL)
            continue
        action = decide_start(observe_start(settings, client))
        line = f"{action.kind.value}: {action.reason}"
        if line != said or time.monotonic() - said_at > REPEAT_LOG_INTERVAL:
            _log(line)  # a wait repeats its line only now and then
            said, said_at = line, time.monotonic()
        if action.kind is StartKind.WAIT:
            sleep(RETRY_INTERVAL)
            continue
        try:
            _carry_out(settings, client, action)
        except LifecycleError as exc:
            _log(f"{exc}; retrying")
            sleep(RETRY_INTERVAL)
            continue
        path = write_member_config(settings, action)
        if settings.diagnostics_seconds > 0 and os.fork() == 0:
            try:
                diagnose(settings, client)
            finally:
                os._exit(0)
        argv = [sys.executable, "-m", "pyetcd", "--config-file", path]
        os.execv(sys.executable, argv)


def diagnose(settings: Settings, client: Client) -> None:
    """etcd-release's network diagnostics: every 3 s for a while after a start, what this
    instance sees of its peers (member lists, versions), in network_diagnostics.log."""
    deadline = time.monotonic() + settings.diagnostics_seconds
    path = os.path.join(settings.log_dir, "network_diagnostics.log")
    with open(path, "a", encoding="utf-8") as log:
        while time.monotonic() < deadline:
            stamp = dt.datetime.now().isoformat(timespec="milliseconds")
            for peer in settings.peers:
                try:
                    version = client.call("GET", f"{peer.client_url}/version")
                except (OSError, ssl.SSLError) as exc:
                    version = (0, str(exc))
                members = client.members(peer.client_url)
                seen = [f"{m.name or '(unstarted)'}={','.join(m.peer_urls)}" for m in members or ()]
                log.write(f"{stamp} {peer.name} {peer.client_url} version={version} "
                          f"members={seen if members is not None else 'no answer'}\n")  # fmt: skip
            log.flush()
            time.sleep(DIAGNOSTICS_INTERVAL)


# -- post-start -------------------------------------------------------------------------------


def observe_post_start(settings: Settings, client: Client) -> PostStartObservation:
    healthy = client.healthy(settings.client_url)
    members = client.members(settings.client_url) if healthy else None
    mine = next((m for m in members or () if m.name == settings.me.name), None)
    return PostStartObservation(settings.me, healthy, mine)


def write_marker(settings: Settings) -> None:
    """Remembers on the persistent disk that it has hosted a member: from now on, no data
    and no answer means "lost", never "first deploy"."""
    with open(settings.marker + ".tmp", "w", encoding="utf-8") as fh:
        json.dump({"name": settings.me.name, "peer_url": settings.me.peer_url}, fh)
    os.replace(settings.marker + ".tmp", settings.marker)


def post_start(
    settings: Settings,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    client = Client(settings.client_tls)
    deadline = clock() + settings.post_start_timeout
    reason = "not checked yet"
    while clock() < deadline:
        action = decide_post_start(observe_post_start(settings, client))
        reason = action.reason
        if action.kind is PostStartKind.DONE:
            write_marker(settings)
            _log(f"{settings.me.name}: {reason}")
            return
        if action.kind is PostStartKind.UPDATE_PEER_URL:
            _log(f"updating the peer URL: {reason}")
            urls = [settings.client_url, *_peer_client_urls(settings)]
            try:
                client.change(urls, "PUT", f"/v2/members/{action.member_id}",
                              {"peerURLs": [settings.me.peer_url]})  # fmt: skip
            except LifecycleError as exc:
                reason = str(exc)
        sleep(POST_START_POLL)
    said = _last_start_line(settings.log_dir)
    raise LifecycleError(
        f"{settings.me.name} did not become a healthy member within "
        f"{settings.post_start_timeout:g}s (etcd.post_start_timeout_in_seconds): {reason}"
        + (f"; the start says: {said}" if said else "")
        + f"; see {settings.log_dir}"
    )


def _last_start_line(log_dir: str) -> str:
    """What the start step last said (bpm writes the process's stderr to etcd.stderr.log)."""
    try:
        with open(
            os.path.join(log_dir, "etcd.stderr.log"), encoding="utf-8", errors="replace"
        ) as fh:
            lines = [line for line in fh if " | lifecycle: " in line]
    except OSError:
        return ""
    return lines[-1].split(" | lifecycle: ", 1)[1].strip() if lines else ""


# -- drain ------------------------------------------------------------------------------------


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drain(settings: Settings, pid: int | None, next_state: str) -> None:
    """Hand leadership off, leave the cluster only when the instance is deleted; prints the
    drain protocol's `0` (done, BOSH may stop the processes now)."""
    client = Client(settings.client_tls)
    running = _alive(pid)
    own = client.is_leader(settings.client_url) if running else None
    members = client.members(settings.client_url) if running else None
    if members is None:
        members = first_answer(client, _peer_client_urls(settings))
    action = decide_drain(
        DrainObservation(settings.me, deleting(next_state), running, bool(own), members)
    )
    _log(action.reason)
    if action.hand_off and pid:
        _log("handing leadership off")
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + HAND_OFF_TIMEOUT
        while (still := client.is_leader(settings.client_url)) and time.monotonic() < deadline:
            time.sleep(0.2)
        _log(
            "still the leader: the stop hands leadership off" if still else "handed leadership off"
        )
    if action.remove is not None:
        others = [m.client_urls[0] for m in members or () if m.client_urls and
                  settings.me.peer_url not in m.peer_urls]  # fmt: skip
        client.change([*others, settings.client_url], "DELETE", f"/v2/members/{action.remove}")
        _log(f"removed member {action.remove}")
    print(0, flush=True)


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="BOSH lifecycle of a pyetcd member.")
    parser.add_argument("step", choices=("pre-start", "start", "post-start", "drain"))
    parser.add_argument("settings", help="the job's rendered config/lifecycle.json")
    parser.add_argument("--pid", default="", help="drain: the member's pid (bpm pid etcd)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.load(args.settings)
        if args.step == "pre-start":
            pre_start(settings)
        elif args.step == "start":
            start(settings)
        elif args.step == "post-start":
            post_start(settings)
        else:
            pid = int(args.pid) if args.pid.strip().isdigit() else None
            drain(settings, pid, os.environ.get("BOSH_JOB_NEXT_STATE", ""))
    except LifecycleError as exc:
        print(f"{PROG} {args.step}: {exc}", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError) as exc:
        print(f"{PROG} {args.step}: {exc}", file=sys.stderr)
        return 1
    except TLSConfigError as exc:
        print(f"{PROG} {args.step}: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
