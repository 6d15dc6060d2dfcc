"""`pyetcd-admin`: operator commands beside the daemon. Usage errors and failures are one line
on stderr and a non-zero exit (2 for usage, 1 otherwise)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from pyetcd.admin.backup import backup
from pyetcd.admin.hotsnap import restore, save
from pyetcd.admin.importetcd import import_etcd
from pyetcd.admin.inspect import inspect
from pyetcd.admin.keyspace import normalise_prefix
from pyetcd.admin.migrate import DEFAULT_CONCURRENCY, Options, migrate
from pyetcd.admin.newcluster import (
    DEFAULT_NAME,
    DEFAULT_PEER_URL,
    DEFAULT_TOKEN,
    NewCluster,
    new_cluster,
)
from pyetcd.admin.v2client import AdminError, TLSFiles, V2Client
from pyetcd.ids import format_id

PROG = "pyetcd-admin"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message}\n")
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _tls(args: argparse.Namespace, side: str) -> TLSFiles:
    return TLSFiles(
        getattr(args, f"{side}_ca_file"),
        getattr(args, f"{side}_cert_file"),
        getattr(args, f"{side}_key_file"),
    )


async def _run_migrate(args: argparse.Namespace) -> int:
    opts = Options(
        prefix=normalise_prefix(args.prefix),
        hidden=tuple(normalise_prefix(h) for h in args.hidden),
        follow=args.follow,
        concurrency=args.concurrency,
        report_interval=args.report_interval,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with (
            V2Client(args.source, _tls(args, "from")) as source,
            V2Client(args.dest, _tls(args, "to")) as dest,
        ):
            return await migrate(source, dest, opts, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError):
                loop.remove_signal_handler(signum)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


async def _run_inspect(args: argparse.Namespace) -> int:
    return await asyncio.to_thread(inspect, args.data_dir, args.wal_dir, _out)


async def _run_backup(args: argparse.Namespace) -> int:
    written = await asyncio.to_thread(
        backup, args.data_dir, args.backup_dir, args.wal_dir, args.backup_wal_dir
    )
    _out(
        f"backed up {args.data_dir} to {args.backup_dir} at index {written.index} (verified): "
        f"new member id {format_id(written.member_id)}, cluster id "
        f"{format_id(written.cluster_id)}; restore with: pyetcd --data-dir {args.backup_dir} "
        "--force-new-cluster ..."
    )
    return 0


def _add_offline(commands: argparse._SubParsersAction[_Parser]) -> None:
    ins = commands.add_parser(
        "inspect",
        help="summarise a stopped member's WAL and snapshots and check their integrity",
        description="Read-only: segments, indexes, hard state, snapshots, ids and members. "
        "Exit 1 naming the file (and offset) when a file is damaged; a torn WAL tail, which "
        "the member drops when it starts, is a warning.",
    )
    ins.add_argument("--data-dir", required=True, help="the member's data dir")
    ins.add_argument("--wal-dir", default="", help="its --wal-dir, if it has one")
    ins.set_defaults(run=_run_inspect)
    bak = commands.add_parser(
        "backup",
        help="copy a stopped member's data into a new data dir (new member and cluster ids)",
        description="Like etcdctl backup: the copy keeps every key and restores as a one-member "
        "cluster with pyetcd --data-dir BACKUP --force-new-cluster. Verified before success.",
    )
    bak.add_argument("--data-dir", required=True, help="the stopped member's data dir")
    bak.add_argument("--wal-dir", default="", help="its --wal-dir, if it has one")
    bak.add_argument("--backup-dir", required=True, help="where to write the copy (new or empty)")
    bak.add_argument(
        "--backup-wal-dir", default="", help="a separate WAL dir for the copy (default: inside it)"
    )
    bak.set_defaults(run=_run_backup)


def _cluster_flags(cmd: argparse.ArgumentParser, what: str) -> None:
    cmd.add_argument("--data-dir", required=True, help=f"the new member's data dir ({what})")
    cmd.add_argument("--wal-dir", default="", help="a separate WAL dir for it")
    cmd.add_argument("--name", default=DEFAULT_NAME, help="this member's name in --initial-cluster")
    cmd.add_argument(
        "--initial-cluster",
        default=f"{DEFAULT_NAME}={DEFAULT_PEER_URL}",
        help="the new cluster's members, name=peer-url,... (the same on every member)",
    )
    cmd.add_argument(
        "--initial-cluster-token", default=DEFAULT_TOKEN, help="the new cluster's token"
    )
    cmd.add_argument(
        "--initial-advertise-peer-urls",
        default="",
        help="this member's peer URLs (default: its entry in --initial-cluster)",
    )


def _new_cluster(args: argparse.Namespace) -> NewCluster:
    return new_cluster(
        args.name,
        args.initial_cluster,
        args.initial_cluster_token,
        args.initial_advertise_peer_urls,
    )


def _restored(args: argparse.Namespace, cluster: NewCluster, index: int) -> None:
    _out(
        f"restored member {args.name} ({format_id(cluster.own_id)}) of cluster "
        f"{format_id(cluster.cluster_id)} in {args.data_dir} at index {index} (verified); "
        f"start every member with its own data dir"
    )


async def _run_snapshot_save(args: argparse.Namespace) -> int:
    endpoints = [e for e in args.endpoints.split(",") if e]
    tls = TLSFiles(args.cacert, args.cert, args.key)
    snap = await save(endpoints, args.file, tls, args.user)
    _out(
        f"saved snapshot of cluster {format_id(snap.cluster_id)} from member "
        f"{format_id(snap.member_id)} at index {snap.index} to {args.file}"
    )
    return 0


async def _run_snapshot_restore(args: argparse.Namespace) -> int:
    cluster = _new_cluster(args)
    written = await asyncio.to_thread(restore, args.file, args.data_dir, args.wal_dir, cluster)
    _restored(args, cluster, written.index)
    return 0


def _add_snapshot(commands: argparse._SubParsersAction[_Parser]) -> None:
    snap = commands.add_parser(
        "snapshot", help="save a running member's snapshot; restore it into a new cluster"
    )
    actions = snap.add_subparsers(dest="action", required=True, parser_class=_Parser)
    sav = actions.add_parser(
        "save",
        help="a consistent snapshot from a running member (GET /pyetcd/v1/snapshot)",
        description="Needs root with v2 auth on, a verified client certificate with "
        "--client-cert-auth. The file carries a sha256 checksum.",
    )
    sav.add_argument("--endpoints", required=True, help="client URLs, tried in order")
    sav.add_argument("--user", default="", help="root[:password] when v2 auth is on")
    sav.add_argument("--cacert", default="", help="CA file to verify the member's certificate")
    sav.add_argument("--cert", default="", help="client certificate file")
    sav.add_argument("--key", default="", help="client key file")
    sav.add_argument("file", help="where to write the snapshot")
    sav.set_defaults(run=_run_snapshot_save)
    res = actions.add_parser(
        "restore",
        help="a new member's data dir from a snapshot file (run once per member)",
        description="Every member of the new cluster restores the same file with its own "
        "--name; ids derive from --initial-cluster-token and the peer URLs. A damaged file "
        "is refused.",
    )
    res.add_argument("file", help="a file written by snapshot save")
    _cluster_flags(res, "new or empty")
    res.set_defaults(run=_run_snapshot_restore)


async def _run_import(args: argparse.Namespace) -> int:
    cluster = _new_cluster(args)
    done = await asyncio.to_thread(
        import_etcd, args.etcd_data_dir, args.etcd_wal_dir, args.data_dir, args.wal_dir, cluster
    )
    for warning in done.warnings:
        sys.stderr.write(f"{PROG}: warning: {warning}\n")
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(done.applied.items())) or "none"
    _out(
        f"imported the v2 store of {args.etcd_data_dir} (snapshot at index "
        f"{done.snapshot_index}, store index {done.store_index}); WAL entries after it: {counts}"
    )
    _restored(args, cluster, done.written.index)
    return 0


def _add_import(commands: argparse._SubParsersAction[_Parser]) -> None:
    imp = commands.add_parser(
        "import-etcd",
        help="a pyetcd data dir from a stopped etcd 3.4 member's data dir (its v2 store)",
        description="Reads member/snap and member/wal of etcd 3.4 (read-only) and writes a "
        "new member of a new cluster holding the same v2 keys, values, TTLs and indexes. "
        "v3 data is not imported: the counts say how many entries were skipped.",
    )
    imp.add_argument("--etcd-data-dir", required=True, help="the stopped etcd member's data dir")
    imp.add_argument("--etcd-wal-dir", default="", help="its --wal-dir, if it had one")
    _cluster_flags(imp, "new or empty")
    imp.set_defaults(run=_run_import)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Operator commands for pyetcd clusters.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    mig = commands.add_parser(
        "migrate",
        help="copy a live v2 keyspace (etcd or pyetcd) into pyetcd, optionally following it",
        description="Copy every key, directory, value and remaining TTL under --prefix from "
        "--from to --to; with --follow keep replaying the source's changes until SIGINT or "
        "SIGTERM, reporting the lag. Exit 0 when the destination matches the source.",
    )
    mig.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="client URL of a source member"
    )
    mig.add_argument(
        "--to", dest="dest", required=True, metavar="URL", help="client URL of a destination member"
    )
    mig.add_argument("--prefix", default="/", help="subtree to copy (default: everything)")
    mig.add_argument(
        "--hidden",
        action="append",
        default=[],
        metavar="KEY",
        help="a hidden node to copy as well (the v2 API never lists them); repeat",
    )
    mig.add_argument(
        "--follow",
        action="store_true",
        help="after the copy, replay the source's changes until stopped",
    )
    mig.add_argument(
        "--concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        help=f"writes in flight during the copy (default {DEFAULT_CONCURRENCY})",
    )
    mig.add_argument(
        "--report-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between lag reports with --follow (default 5)",
    )
    for side in ("from", "to"):
        for what in ("ca", "cert", "key"):
            mig.add_argument(
                f"--{side}-{what}-file", default="", help=f"TLS {what} file for the {side} endpoint"
            )
    mig.set_defaults(run=_run_migrate)
    _add_offline(commands)
    _add_snapshot(commands)
    _add_import(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(args.run(args))
    except AdminError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
