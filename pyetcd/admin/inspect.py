"""`pyetcd-admin inspect`: what a stopped member's data dir holds, and whether it is intact.

Strictly read-only: a torn tail (the unsynced end of the last segment, which the member cuts off
when it starts) is reported, never repaired.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from pyetcd.admin.datadir import DataDir, read_data_dir, replay_store, running_holder
from pyetcd.admin.v2client import AdminError
from pyetcd.ids import format_id
from pyetcd.standalone import members_in


@dataclass(frozen=True, slots=True)
class Report:
    lines: tuple[str, ...]
    warnings: tuple[str, ...]
    damaged: tuple[str, ...]


def _snap_line(name: str, data: DataDir) -> str:
    for f in data.snap_files:
        if f.name != name:
            continue
        if f.error:
            return f"  {f.name}: DAMAGED: {f.error}"
        state = (
            "in use"
            if data.snapshot is not None and data.snapshot.meta.index == f.index
            else ("older" if f.marked else "no WAL marker (ignored)")
        )
        voters = ",".join(format_id(v) for v in f.voters) or "-"
        return f"  {f.name}: index {f.index}, term {f.term}, voters {voters} ({state})"
    raise KeyError(name)


def summarise(data: DataDir) -> Report:
    """The inspect report of `data` (pure: the reading already happened)."""
    replay = data.wal.replay
    hard = replay.hard_state
    entries = data.entries
    voters = data.snapshot.meta.voters if data.snapshot is not None else ()
    lines = [
        f"WAL dir: {data.wal_dir} ({len(data.wal.segments)} segments)",
        *(f"  {name}" for name in data.wal.segments),
        f"member id: {format_id(replay.metadata.member_id)}",
        f"cluster id: {format_id(replay.metadata.cluster_id)}",
        f"hard state: term {hard.term}, vote {format_id(hard.vote)}, commit {hard.commit}",
    ]
    if entries:
        lines.append(
            f"log: entries {entries[0].index}..{entries[-1].index}, last term {entries[-1].term}"
        )
    else:
        lines.append(f"log: no entries after index {data.last[0]}")
    lines.append("last index: {}, last term: {}".format(*data.last))
    lines.append(f"snapshots in {data.snap_dir}: {len(data.snap_files)}")
    lines += [_snap_line(f.name, data) for f in data.snap_files]
    members = members_in(voters, entries)
    lines.append("members in the conf state: " + (",".join(map(format_id, members)) or "-"))
    damaged = tuple(
        f"{os.path.join(data.snap_dir, f.name)}: {f.error}" for f in data.snap_files if f.error
    )
    warnings = []
    torn = data.wal.torn_tail
    if torn is not None:
        warnings.append(
            f"{torn.path}: torn tail at offset {torn.offset} ({torn.reason}): never acknowledged;"
            " the member drops it when it starts"
        )
    return Report(tuple(lines), tuple(warnings), damaged)


def inspect(data_dir: str, wal_dir: str, out: Callable[[str], None]) -> int:
    """Print the report; AdminError (exit 1) naming the first damaged file."""
    pid = running_holder((data_dir,))
    if pid is not None:
        out(f"warning: process {pid} has files in {data_dir} open: its tail may change meanwhile")
    data = read_data_dir(data_dir, wal_dir)
    report = summarise(data)
    for line in report.lines:
        out(line)
    store, skipped = replay_store(data)
    out(
        f"store: index {store.index}, {len(store.members())} members recorded, "
        f"{skipped} undecodable entries"
    )
    for line in report.warnings:
        out("warning: " + line)
    for line in report.damaged:
        out("damaged: " + line)
    if report.damaged:
        more = len(report.damaged) - 1
        raise AdminError(report.damaged[0] + (f" (and {more} more damaged)" if more else ""))
    return 0
