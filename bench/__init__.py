"""Benchmarks that run the same workloads against pyetcd and real etcd 3.4 on this machine.

Always compare the two in one run, as ratios: run-to-run spread on a shared machine is large.
"""
