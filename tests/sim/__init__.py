"""Deterministic whole-cluster Raft simulation: one seed drives clock, network, disks and faults.

Real RawNodes and the real codec run inside; `world.World(seed).run()` raises a
SafetyViolation, LivenessFailure or NotLinearizable (all AssertionErrors) on a bug, so a
failing seed is a one-line reproduction: `python -m tests.sim --seed N --trace`.

events          virtual clock and the (time, seq) event heap
network         per-link drop / delay / duplicate / reorder, symmetric and one-way partitions
disk            durable image versus unsynced records; crashes lose or tear the unsynced tail
simnode         a member executing the Ready contract exactly, with a simulated fsync latency
kv, workload    the replicated register store and clients recording their history
nemesis         swarm fault profiles and the fault schedule
invariants      Raft safety properties checked after every event
linearizability per-key WGL checker with unknown outcomes
world           wires it all together; run(): faults, heal, liveness, convergence, history
"""
