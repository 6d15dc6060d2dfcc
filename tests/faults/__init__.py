"""Real pyetcd and etcd processes in a network namespace, under partitions, kills and pauses."""
