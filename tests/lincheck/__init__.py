"""Per-key linearizability of client histories: shared by the simulator and the faults tier."""
