"""Process-level cluster tests: real etcd or pyetcd members on 127.0.0.1, killed and restarted."""
