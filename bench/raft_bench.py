"""Committed proposals per second through a 3-node in-memory raft cluster in one process.

Each round proposes a batch on the leader, then pumps the network (persist to MemoryStorage,
deliver, apply) until every node has applied the batch. No I/O: this measures the core alone.
A second figure is the wire codec: AppendEntries frames of one batch, encoded and decoded.

    python -m bench.raft_bench [--proposals N] [--batch B ...] [--size S] [--nodes K] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from raft import AppendEntries, Entry, FrameDecoder, encode_frame
from raft.testing import Network


def run(proposals: int, batch: int, size: int, nodes: int) -> float:
    net = Network(range(1, nodes + 1), seed=1)
    net.campaign(1)
    leader = net.nodes[1]
    payload = b"x" * size
    start = time.perf_counter()
    done = 0
    while done < proposals:
        n = min(batch, proposals - done)
        for _ in range(n):
            leader.propose(payload)
        net.stabilize()
        done += n
    elapsed = time.perf_counter() - start
    target = net.committed(1)
    for node_id in net.nodes:
        if net.committed(node_id) != target or len(net.applied[node_id]) != proposals:
            raise SystemExit(f"node {node_id} did not apply every proposal")
    return proposals / elapsed


def codec_rate(entries: int, batch: int, size: int) -> float:
    """Entries per second through encode_frame and FrameDecoder, `batch` per frame."""
    payload = b"x" * size
    msg = AppendEntries(
        2, 1, 5, 100, 5, tuple(Entry(5, 101 + i, data=payload) for i in range(batch)), 100
    )
    frames = max(1, entries // batch)
    decoder = FrameDecoder()
    start = time.perf_counter()
    for _ in range(frames):
        decoder.receive_data(encode_frame(msg))
        if decoder.next_event() != msg:
            raise SystemExit("codec round trip failed")
    return frames * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=200_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    for batch in args.batch:
        if args.profile:
            profiler = cProfile.Profile()
            rate = profiler.runcall(run, args.proposals, batch, args.size, args.nodes)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        else:
            rate = run(args.proposals, batch, args.size, args.nodes)
        print(
            f"nodes={args.nodes} batch={batch} size={args.size} proposals={args.proposals}: "
            f"{rate:,.0f} committed proposals/s"
        )
        codec = codec_rate(args.proposals, batch, args.size)
        print(f"codec batch={batch} size={args.size}: {codec:,.0f} entries/s encoded+decoded")


if __name__ == "__main__":
    main()
