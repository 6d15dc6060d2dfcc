"""The Dockerfile's image run with podman: one member across a restart, then a 3-member cluster.

Every container uses the host network with 127.0.0.1 and free ports, and is configured only by
ETCD_* variables on ports other than the image's defaults, so the HEALTHCHECK has to follow them.
Takes about 1 min here (the shared image build, ~45 s, included); NOT RUN without podman/mmdebstrap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster.client import call, get_json, put_key, wait_for
from tests.packaging.conftest import BuiltImage
from tests.packaging.images import RUN_LIMITS
from tests.procs import HOST
from tests.pyetcd.harness import free_ports

DATA = "/var/lib/etcd"
# The first test also builds the image (mmdebstrap and all): more than the suite's 300 s default
# on a slow mirror.
pytestmark = pytest.mark.timeout(900)
START_TIMEOUT_S = 60.0


def _url(port: int) -> str:
    return f"http://{HOST}:{port}"


@dataclass(frozen=True)
class Node:
    name: str
    client_port: int
    peer_port: int

    def environment(self, cluster: str) -> list[str]:
        client, peer = _url(self.client_port), _url(self.peer_port)
        values = {
            "ETCD_NAME": self.name,
            "ETCD_LISTEN_CLIENT_URLS": client,
            "ETCD_ADVERTISE_CLIENT_URLS": client,
            "ETCD_LISTEN_PEER_URLS": peer,
            "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
            "ETCD_INITIAL_CLUSTER": cluster,
        }
        return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]


def cluster_of(nodes: list[Node]) -> str:
    return ",".join(f"{node.name}={_url(node.peer_port)}" for node in nodes)


class Containers:
    """Starts members from the image; `remove_all` removes every container and volume made."""

    def __init__(self, image: BuiltImage) -> None:
        self.podman, self.image = image.podman, image.name
        self.names: list[str] = []
        self.volumes: set[str] = set()

    def start(self, node: Node, cluster: str) -> str:
        name = f"{node.name}-{len(self.names)}"
        volume = f"{node.name}-data"
        self.names.append(name)
        self.volumes.add(volume)
        self.podman.run("run", "--detach", "--name", name, "--network", "host", *RUN_LIMITS,
                        "--volume", f"{volume}:{DATA}", *node.environment(cluster),
                        self.image)  # fmt: skip
        return name

    def logs(self, name: str) -> str:
        done = self.podman.run("logs", name, check=False)
        return (done.stdout + done.stderr)[-3000:]

    def wait_serving(self, name: str, node: Node) -> None:
        """Bounded wait for the v2 API; fails at once, with the logs, if the container exits."""

        def probe() -> bool | None:
            state = self.podman.run("inspect", "--format", "{{.State.Running}}", name).stdout
            if state.strip() != "true":
                raise AssertionError(f"container {name} exited:\n{self.logs(name)}")
            reply = call(node.client_port, "GET", "/v2/keys")
            return True if reply is not None and reply.status == 200 else None

        wait_for(probe, START_TIMEOUT_S, f"{name} serving on port {node.client_port}", interval=0.5)

    def healthcheck(self, name: str, *env: str) -> int:
        """Exit status of the image's HEALTHCHECK command (with `env` overrides when given)."""
        if not env:
            return self.podman.run("healthcheck", "run", name, check=False).returncode
        overrides = [arg for item in env for arg in ("--env", item)]
        return self.podman.run("exec", *overrides, name, "/opt/pyetcd/bin/python",
                               "/opt/pyetcd/healthcheck.py", check=False).returncode  # fmt: skip

    def stop(self, name: str) -> int:
        """SIGTERM (the image's stop signal), then the container's exit status."""
        self.podman.run("stop", "--time", "30", name, timeout=60)
        return int(self.podman.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout)

    def remove_all(self) -> None:
        for name in self.names:
            self.podman.run("rm", "--force", "--time", "0", name, check=False)
        for volume in self.volumes:
            self.podman.run("volume", "rm", "--force", volume, check=False)


@pytest.fixture
def containers(built_image: BuiltImage) -> Iterator[Containers]:
    made = Containers(built_image)
    try:
        yield made
    finally:
        made.remove_all()


def _value(port: int, key: str) -> str | None:
    answer = get_json(port, f"/v2/keys/{key}?quorum=true", timeout=5.0)
    if answer is None or answer[0] != 200:
        return None
    return str(answer[1]["node"]["value"])


def _leader(port: int) -> str:
    answer = get_json(port, "/v2/stats/self", timeout=5.0)
    assert answer is not None and answer[0] == 200, answer
    return str(answer[1]["leaderInfo"]["leader"])


def test_image_runs_pyetcd_without_flags_as_a_user_with_a_volume(built_image: BuiltImage) -> None:
    done = built_image.podman.run("image", "inspect", built_image.name)
    (image,) = json.loads(done.stdout)
    config = image["Config"]
    assert config["Cmd"] == ["/opt/pyetcd/bin/pyetcd"] and not config.get("Entrypoint")
    assert config["User"] == "pyetcd"
    assert set(config["Volumes"]) == {DATA}
    assert set(config["ExposedPorts"]) == {"2379/tcp", "2380/tcp"}
    assert "/opt/pyetcd/healthcheck.py" in image["Healthcheck"]["Test"], image.get("Healthcheck")
    assert f"ETCD_DATA_DIR={DATA}" in config["Env"]


def test_one_container_keeps_its_data_across_a_restart(containers: Containers) -> None:
    started = time.monotonic()
    node = Node("solo", *free_ports(2))
    first = containers.start(node, cluster_of([node]))
    containers.wait_serving(first, node)
    assert containers.healthcheck(first) == 0, containers.logs(first)
    status = containers.podman.run("inspect", "--format", "{{.State.Health.Status}}", first)
    assert status.stdout.strip() == "healthy"
    unused = free_ports(1)[0]
    assert containers.healthcheck(first, f"ETCD_LISTEN_CLIENT_URLS=http://{HOST}:{unused}") == 1
    uid = containers.podman.run("exec", first, "id", "-u").stdout.strip()
    assert uid != "0", "the member runs as root"

    reply = put_key(node.client_port, "restart/kept", "across-containers", timeout=5.0)
    assert reply is not None and reply.status == 201, reply
    assert containers.stop(first) == 0, containers.logs(first)
    containers.podman.run("rm", first)

    second = containers.start(node, cluster_of([node]))
    containers.wait_serving(second, node)
    assert "restarting member" in containers.logs(second)
    assert _value(node.client_port, "restart/kept") == "across-containers"
    assert containers.healthcheck(second) == 0
    print(f"\none container, write, restart, read back: {time.monotonic() - started:.0f} s")


def test_three_containers_form_a_cluster(containers: Containers) -> None:
    started = time.monotonic()
    ports = free_ports(6)
    nodes = [Node(f"m{i + 1}", ports[2 * i], ports[2 * i + 1]) for i in range(3)]
    cluster = cluster_of(nodes)
    names = [containers.start(node, cluster) for node in nodes]
    for name, node in zip(names, nodes, strict=True):
        containers.wait_serving(name, node)
    members = get_json(nodes[0].client_port, "/v2/members", timeout=5.0)
    assert members is not None and members[0] == 200
    assert sorted(m["name"] for m in members[1]["members"]) == ["m1", "m2", "m3"]
    for name in names:
        assert wait_for(lambda n=name: containers.healthcheck(n) == 0 or None, 30.0,
                        f"{name} healthy")  # fmt: skip

    reply = put_key(nodes[0].client_port, "cluster/one", "1", timeout=5.0)
    assert reply is not None and reply.status == 201, reply
    assert _value(nodes[2].client_port, "cluster/one") == "1"

    assert containers.stop(names[2]) == 0, containers.logs(names[2])
    reply = put_key(nodes[1].client_port, "cluster/while-down", "2", timeout=5.0)
    assert reply is not None and reply.status == 201, reply
    containers.podman.run("rm", names[2])
    back = containers.start(nodes[2], cluster)
    containers.wait_serving(back, nodes[2])
    caught_up = wait_for(lambda: _value(nodes[2].client_port, "cluster/while-down"), 30.0,
                         "the restarted member to catch up", interval=0.2)  # fmt: skip
    assert caught_up == "2"
    assert len({_leader(node.client_port) for node in nodes}) == 1
    print(f"\nthree containers as a cluster, one restarted: {time.monotonic() - started:.0f} s")
