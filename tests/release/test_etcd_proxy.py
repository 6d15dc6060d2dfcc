"""The etcd_proxy job (etcd-release's TLS migration helper): its templates rendered for its
property sets and loaded by pyetcd, and a deploy in front of a TLS cluster of the etcd job
where non-TLS clients write through it and sync their endpoints to it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyetcd.config import Config, load_config
from tests.release.bosh import (
    RELEASE,
    RUBY,
    Instance,
    RenderError,
    context,
    group,
    manifest,
    render,
)
from tests.release.deploy import Deployment, Netns, StepFailed, Vm, can_namespace
from tests.release.test_deploy import ADDRESSES, _properties, _tls_manifest
from tls import certtool

JOB = RELEASE / "jobs" / "etcd_proxy"
PROXY = Instance("etcd_proxy", 0, "127.0.0.4", True)
SUFFIX = "etcd.service.cf.internal"
CERTS = {"ca_cert": "CA PEM", "client_cert": "CERT PEM", "client_key": "KEY PEM"}

pytestmark = pytest.mark.skipif(RUBY is None, reason="NOT RUN: the template tier needs ruby")


def _render(out: Path, props: dict[str, Any]) -> Path:
    return render(context(PROXY, [PROXY], {"etcd_proxy": props}), out, job=JOB)


def _loaded(out: Path) -> Config:
    path = out / "config/etcd_proxy.yml"
    path.write_text(path.read_text().replace("/var/vcap/jobs/etcd_proxy", str(out)))
    loaded = load_config(["--config-file", str(path)], {})
    assert isinstance(loaded, Config)
    return loaded


def test_defaults_render_etcd_releases_proxy(tmp_path: Path) -> None:
    out = _render(tmp_path / "job", {"etcd": CERTS})
    config = _loaded(out)
    assert config.proxy == "on" and config.listen_client_urls == ("http://0.0.0.0:4001",)
    assert config.proxy_cluster_client_urls == (f"https://{SUFFIX}:4001",)
    assert config.proxy_members_answer == "http://127.0.0.4:4001"
    assert config.proxy_refresh_interval_ms == 500
    assert config.data_dir == "/var/vcap/data/etcd_proxy"
    files = dict(config.tls_files)
    assert files["cert-file"].endswith("/config/certs/client.crt")
    assert files["trusted-ca-file"].endswith("/config/certs/ca.crt")
    assert not config.client_cert_auth
    for name, prop in (("ca.crt", "ca_cert"), ("client.crt", "client_cert"),
                       ("client.key", "client_key")):  # fmt: skip
        assert (out / "config/certs" / name).read_text().strip() == CERTS[prop]
    (process,) = yaml.safe_load((out / "config/bpm.yml").read_text())["processes"]
    assert process["executable"] == "/var/vcap/packages/pyetcd/bin/pyetcd"
    assert process["args"] == ["--config-file", "/var/vcap/jobs/etcd_proxy/config/etcd_proxy.yml"]
    assert "persistent_disk" not in process
    monit = (out / "monit").read_text()
    assert "bpm start etcd_proxy" in monit and "127.0.0.1 port 4001" in monit


def test_explicit_ip_ports_and_suffix(tmp_path: Path) -> None:
    props = {"ip": "127.0.0.9", "port": 4002,
             "etcd": {**CERTS, "dns_suffix": "etcd.example", "port": 2379}}  # fmt: skip
    config = _loaded(_render(tmp_path / "job", props))
    assert config.listen_client_urls == ("http://127.0.0.9:4002",)
    assert config.proxy_cluster_client_urls == ("https://etcd.example:2379",)
    assert config.proxy_members_answer == "http://127.0.0.9:4002"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"etcd": {}}, "etcd_proxy.etcd.ca_cert must be set"),
        ({"etcd": {**CERTS, "client_key": " "}}, "etcd_proxy.etcd.client_key must be set"),
        ({"port": "4001", "etcd": CERTS}, "etcd_proxy.port must be a port number"),
        ({"etcd": {**CERTS, "port": 0}}, "etcd_proxy.etcd.port must be a port number"),
        ({"etcd": {**CERTS, "dns_suffix": ""}}, "dns_suffix must name the TLS cluster"),
    ],
)
def test_render_refusals(tmp_path: Path, props: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        _render(tmp_path / "job", props)


# -- a deploy in front of a TLS cluster -------------------------------------------------------

WHY_NOT = can_namespace()
# As Vm's entry, plus /etc/hosts naming the cluster (consul's role on a CF network).
ENTER_WITH_HOSTS = (
    'mount -t tmpfs none /var && mkdir /var/vcap && mount --bind "$0" /var/vcap && '
    'mount --bind /var/vcap/hosts /etc/hosts && exec "$@"'
)


@dataclass
class ProxyVm(Vm):
    """The proxy's instance: the etcd_proxy job, and the cluster's name in its /etc/hosts."""

    cluster_address: str = "127.0.0.1"

    def prepare(self) -> None:
        super().prepare()
        hosts = f"{self.cluster_address} {SUFFIX}\n127.0.0.1 localhost\n"
        (self.root / "hosts").write_text(hosts)

    def start_proxy(self, etcd_properties: dict[str, Any]) -> None:
        """Renders the job with the cluster's CA and client certificate; bpm starts it."""
        certs = {key: etcd_properties[key] for key in CERTS}
        props = {"etcd_proxy": {"ip": self.instance.address, "etcd": certs}}
        self.prepare()
        render(context(self.instance, [self.instance], props), self.root / "jobs/etcd_proxy",
               job=JOB)  # fmt: skip
        self.step("/var/vcap/jobs/bpm/bin/bpm", "start", "etcd_proxy")

    def run(self, *argv: str, env: dict[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:  # fmt: skip
        command = ["ip", "netns", "exec", self.netns.name, "sh", "-c", ENTER_WITH_HOSTS,
                   str(self.root), *argv]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)  # fmt: skip

    def logs(self) -> str:
        path = self.root / "sys/log/etcd_proxy/etcd_proxy.stderr.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def _plain_client(netns: Netns, method: str, url: str, data: str = "") -> tuple[int, Any]:
    """A non-TLS v2 client inside the namespace: (status, JSON body)."""
    code = (
        "import sys,urllib.request as u,urllib.error as e\n"
        "r=u.Request(sys.argv[1],data=sys.argv[3].encode() or None,method=sys.argv[2])\n"
        "r.add_header('Content-Type','application/x-www-form-urlencoded')\n"
        "try:\n s=u.urlopen(r,timeout=10)\nexcept e.HTTPError as x:\n s=x\n"
        "print(s.status);print(s.read().decode())"
    )
    done = subprocess.run(["ip", "netns", "exec", netns.name, sys.executable, "-c", code, url,
                           method, data], capture_output=True, text=True, timeout=30,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise StepFailed(f"{method} {url}: {done.stderr[-1000:]}")
    status, body = done.stdout.split("\n", 1)
    return int(status), json.loads(body)


@pytest.fixture
def tls_cluster(tmp_path: Path) -> Iterator[Deployment]:
    with Netns() as netns:
        deployment = Deployment(netns, tmp_path, _properties(_tls_manifest(tmp_path)))
        try:
            deployment.deploy(group("etcd", ADDRESSES))
            yield deployment
        finally:
            deployment.stop_all()


@pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the deploy tier {WHY_NOT}")
@pytest.mark.timeout(240)
def test_plain_clients_write_through_the_proxy(tls_cluster: Deployment, tmp_path: Path) -> None:
    vm = ProxyVm(tls_cluster.netns, PROXY, tmp_path / "proxy-vm")
    vm.start_proxy(tls_cluster.properties["etcd"])  # its own address: members hold 4001
    try:
        base = "http://127.0.0.4:4001"
        written = None
        deadline = time.monotonic() + 30
        while written is None and time.monotonic() < deadline:
            with contextlib.suppress(StepFailed):
                status, body = _plain_client(vm.netns, "PUT", f"{base}/v2/keys/via", "value=1")
                if status == 201:
                    written = body
            time.sleep(0.3)
        assert written is not None, f"no write got through the proxy:\n{vm.logs()}"
        assert written["node"]["value"] == "1"
        for i in range(5):
            status, _ = _plain_client(vm.netns, "PUT", f"{base}/v2/keys/k{i}", f"value={i}")
            assert status == 201
        status, members = _plain_client(vm.netns, "GET", f"{base}/v2/members")
        assert status == 200
        assert members == {"members": [{"id": "xxxxxxxxxxxxxxxx", "name": "proxy",
                                        "clientURLs": [base]}]}  # fmt: skip
        # The writes are in the TLS cluster, read back over mutual TLS from a member.
        for i in range(5):
            node = tls_cluster.vms[i % 3].client("GET", f"/v2/keys/k{i}?quorum=true")["node"]
            assert node["value"] == str(i)
        status, errors = _plain_client(vm.netns, "GET", f"{base}/v2/keys/missing")
        assert status == 404 and errors["errorCode"] == 100
        assert "endpoints found" in vm.logs()
    finally:
        vm.run("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd_proxy", timeout=30)


# -- etcd-release's pending tls_upgrade scenario ----------------------------------------------

TLS_ADDRESSES = ["127.0.0.4", "127.0.0.5", "127.0.0.6"]
# A non-TLS client writing one key after another to one endpoint until told to stop; it
# records each write's outcome (the test consumer's spammer, in one process).
SPAMMER = """
import json, os, sys, time, urllib.request as u
url, out, stop = sys.argv[1:4]
results = []
while not os.path.exists(stop) and len(results) < 20000:
    n = len(results)
    r = u.Request(f"{url}/v2/keys/spam/{n}", data=f"value={n}".encode(), method="PUT")
    r.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        status = u.urlopen(r, timeout=5).status
    except Exception as exc:
        status = type(exc).__name__
    results.append([n, status, time.time()])
    time.sleep(0.05)
with open(out, "w") as fh:
    json.dump(results, fh)
"""


def _tls_properties(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "etcd-tls-vars.yml"
    # 127.0.0.1 too: the source address of connections between loopback addresses
    ips = ",".join(["127.0.0.1", *TLS_ADDRESSES])
    argv = ["bosh-vars", "--output", str(path), "--ip", ips,
            "--key-type", "ecdsa"]  # fmt: skip
    assert certtool.main(argv) == 0
    return _properties(manifest("tls.yml", variables=yaml.safe_load(path.read_text())))


@pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the deploy tier {WHY_NOT}")
@pytest.mark.timeout(400)
def test_tls_upgrade_behind_the_proxy(tmp_path: Path) -> None:
    """etcd-release's tls_upgrade test (pending there): a non-TLS cluster takes writes from a
    spammer; a TLS cluster is deployed beside it; the old group becomes one etcd_proxy at the
    spammer's endpoint. The spammer never changes its URL: its writes fail only while the old
    member is swapped for the proxy, then land in the TLS cluster."""
    with Netns() as netns:
        old = Deployment(netns, tmp_path / "old", _properties(manifest()))
        new = Deployment(netns, tmp_path / "new", _tls_properties(tmp_path))
        spammer = None
        proxy = ProxyVm(netns, Instance("etcd", 0, ADDRESSES[0], True), tmp_path / "proxy",
                        cluster_address=TLS_ADDRESSES[0])  # fmt: skip
        try:
            old.deploy(group("etcd", ADDRESSES))
            out, stop = tmp_path / "spam.json", tmp_path / "spam.stop"
            spammer = subprocess.Popen(["ip", "netns", "exec", netns.name, sys.executable, "-c",
                                        SPAMMER, f"http://{ADDRESSES[0]}:4001", str(out),
                                        str(stop)])  # fmt: skip
            new.deploy(group("etcd_tls", TLS_ADDRESSES))
            switched = time.time()
            old.stop_all()  # the old group shrinks to one instance: the proxy
            proxy.start_proxy(new.properties["etcd"])
            deadline = time.monotonic() + 60
            through = None
            while through is None and time.monotonic() < deadline:
                with contextlib.suppress(StepFailed):
                    status, _ = _plain_client(netns, "GET", f"http://{ADDRESSES[0]}:4001/v2/keys/")
                    through = status if status == 200 else None
                time.sleep(0.3)
            assert through == 200, f"the proxy did not come up:\n{proxy.logs()}"
            up = time.time()
            time.sleep(5)  # the spammer keeps writing through the proxy
            stop.touch()
            assert spammer.wait(timeout=30) == 0
            results = json.loads(out.read_text())
            failed = [r for r in results if r[1] != 201]
            through_proxy = [r for r in results if r[2] >= up]
            assert len(through_proxy) >= 20, f"writes through the proxy: {len(through_proxy)}"
            assert all(r[1] == 201 for r in through_proxy), "every write once the proxy is up"
            # Writes fail only while the old member is swapped for the proxy.
            assert all(switched <= r[2] < up for r in failed), failed[:5]
            for n in (through_proxy[0][0], through_proxy[-1][0]):
                node = new.vms[1].client("GET", f"/v2/keys/spam/{n}?quorum=true")["node"]
                assert node["value"] == str(n)
        finally:
            if spammer is not None and spammer.poll() is None:
                spammer.kill()
                spammer.wait(timeout=10)
            proxy.run("/var/vcap/jobs/bpm/bin/bpm", "stop", "etcd_proxy", timeout=30)
            new.stop_all()
            old.stop_all()
