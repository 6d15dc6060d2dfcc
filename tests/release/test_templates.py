"""Every template of the etcd job rendered by Ruby's ERB in bosh-template's context, for TLS and
non-TLS property sets; the rendered config accepted by pyetcd's own validation, bad property
sets refused at render or by pre-start's checks with a line naming the property."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyetcd.config import Config, load_config
from pyetcd.lifecycle_checks import check_certs, check_member_config
from pyetcd.lifecycle_io import Settings
from tests.release.bosh import (
    RELEASE,
    RUBY,
    RenderError,
    context,
    group,
    job_properties,
    manifest,
    render,
)
from tls import certtool
from tls.authority import KeySpec
from tls.certtool import bosh_tls_values

pytestmark = pytest.mark.skipif(RUBY is None, reason="NOT RUN: ruby missing (apt-get install ruby)")

ADDRESSES = ["10.244.0.2", "10.244.0.3", "10.244.0.4"]
SUFFIX = "etcd.service.cf.internal"
KEYS = KeySpec("ecdsa", 256)
YEAR = dt.timedelta(days=365)


def _tls(ips: list[str] | None = None) -> dict[str, str]:
    return bosh_tls_values(KEYS, SUFFIX, [], ips or [], 2 * YEAR, YEAR)


@pytest.fixture(scope="module")
def tls_values() -> dict[str, str]:
    return _tls()


@pytest.fixture(scope="module")
def ip_tls_values() -> dict[str, str]:
    return _tls(ADDRESSES)


def _plain(**extra: Any) -> dict[str, Any]:
    return {"etcd": {"require_ssl": False, "peer_require_ssl": False, **extra}}


def _render(tmp_path: Path, props: dict[str, Any], index: int = 0, name: str = "etcd") -> Path:
    instances = group(name, ADDRESSES)
    out = render(context(instances[index], instances, props), tmp_path / "jobs" / "etcd")
    for rel in ("config/etcd.yml", "config/lifecycle.json"):  # the job dir is not /var/vcap here
        path = out / rel
        path.write_text(path.read_text().replace("/var/vcap/jobs/etcd", str(out)))
    return out


def _member(out: Path) -> dict[str, Any]:
    return yaml.safe_load((out / "config/etcd.yml").read_text())


def _loaded(out: Path) -> Config:
    loaded = load_config(["--config-file", str(out / "config/etcd.yml")], {})
    assert isinstance(loaded, Config)
    return loaded


def test_plain_instance(tmp_path: Path) -> None:
    out = _render(tmp_path, _plain(), index=1)
    config = _loaded(out)
    assert config.name == "etcd-1"
    assert config.listen_client_urls == ("http://10.244.0.3:4001",)
    assert config.listen_peer_urls == ("http://10.244.0.3:7001",)
    assert config.advertise_client_urls == ("http://10.244.0.3:4001",)
    assert config.initial_cluster == (("etcd-1", ("http://10.244.0.3:7001",)),)
    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (50, 1000)
    assert config.enable_v2 and config.data_dir == "/var/vcap/store/etcd"
    assert not config.inert, config.inert
    settings = Settings.load(str(out / "config/lifecycle.json"))
    assert not settings.bootstrap and settings.client_tls is None and not settings.certs
    assert [p.peer_url for p in settings.peers] == [f"http://{a}:7001" for a in ADDRESSES]
    assert settings.post_start_timeout == 120 and settings.diagnostics_seconds == 300
    assert check_member_config(settings.config_file) == []


def test_bpm_monit_and_scripts(tmp_path: Path) -> None:
    out = _render(tmp_path, _plain(enable_debug_logging=True))
    (process,) = yaml.safe_load((out / "config/bpm.yml").read_text())["processes"]
    assert process["name"] == "etcd" and process["persistent_disk"] is True
    assert process["executable"] == "/var/vcap/packages/pyetcd/bin/pyetcd-lifecycle"
    assert process["args"] == ["start", "/var/vcap/jobs/etcd/config/lifecycle.json"]
    assert process["limits"] == {"open_files": 100000}
    monit = (out / "monit").read_text()
    assert "/var/vcap/jobs/bpm/bin/bpm start etcd" in monit
    assert 'request "/health"' in monit and "10.244.0.2 port 4001" in monit
    for script in ("pre-start", "post-start", "drain"):
        path = out / "bin" / script
        assert path.stat().st_mode & 0o111
        subprocess.run(["bash", "-n", str(path)], check=True)
        assert "pyetcd-lifecycle" in path.read_text()
    assert _loaded(out).log_level == "debug"


def test_renamed_group_and_manual_ips(tmp_path: Path) -> None:
    out = _render(tmp_path, _plain(client_ip="0.0.0.0", peer_ip="0.0.0.0"), 2, "new_etcd")
    config = _loaded(out)
    assert config.name == "new-etcd-2"
    assert config.listen_client_urls == ("http://0.0.0.0:4001",)
    assert config.advertise_client_urls == ("http://10.244.0.4:4001",)
    assert "127.0.0.1 port 4001" in (out / "monit").read_text()


def _tls_props(values: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"etcd": {**values, **extra}}


def test_tls_with_dns_names(tmp_path: Path, tls_values: dict[str, str]) -> None:
    out = _render(tmp_path, _tls_props(tls_values, advertise_urls_dns_suffix=SUFFIX))
    config = _loaded(out)
    assert config.advertise_client_urls == (f"https://etcd-0.{SUFFIX}:4001",)
    assert config.initial_advertise_peer_urls == (f"https://etcd-0.{SUFFIX}:7001",)
    assert config.listen_client_urls == ("https://10.244.0.2:4001",)
    assert config.client_cert_auth and config.peer_client_cert_auth
    assert (out / "config/certs/server.crt").read_text() == tls_values["server_cert"]
    assert (out / "config/certs/peer.key").read_text() == tls_values["peer_key"]
    settings = Settings.load(str(out / "config/lifecycle.json"))
    assert settings.bootstrap and settings.dns_health_check_host == "consul.service.cf.internal"
    assert settings.peers[2].client_url == f"https://etcd-2.{SUFFIX}:4001"
    assert settings.client_tls and settings.client_tls["cert"].endswith("certs/client.crt")
    assert check_certs(settings.certs) == []
    assert "request" not in (out / "monit").read_text()


def test_tls_without_dns_uses_addresses(tmp_path: Path, ip_tls_values: dict[str, str]) -> None:
    out = _render(tmp_path, _tls_props(ip_tls_values), index=1)
    config = _loaded(out)
    assert config.advertise_client_urls == ("https://10.244.0.3:4001",)
    settings = Settings.load(str(out / "config/lifecycle.json"))
    assert settings.dns_health_check_host == ""
    assert check_certs(settings.certs) == []


def test_mixed_modes_decide_per_flag(tmp_path: Path, tls_values: dict[str, str]) -> None:
    props = _tls_props(tls_values, advertise_urls_dns_suffix=SUFFIX, require_ssl=False)
    config = _loaded(_render(tmp_path, props))
    assert config.advertise_client_urls == ("http://10.244.0.2:4001",)
    assert config.initial_advertise_peer_urls == (f"https://etcd-0.{SUFFIX}:7001",)


RENDER_REFUSALS = [
    ({"etcd": {}}, "etcd.ca_cert must be set (a PEM block) when etcd.require_ssl is true"),
    ({"etcd": {"require_ssl": False}}, "etcd.peer_ca_cert must be set"),
    (_plain(heartbeat_interval_in_milliseconds="fast"),
     "etcd.heartbeat_interval_in_milliseconds must be a positive integer"),
    (_plain(election_timeout_in_milliseconds=100),
     "etcd.election_timeout_in_milliseconds (100) must be at least 5 times"),
]  # fmt: skip


@pytest.mark.parametrize(("props", "message"), RENDER_REFUSALS)
def test_render_refusals(tmp_path: Path, props: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        _render(tmp_path, props)
    assert message in str(caught.value) and "\n" not in str(caught.value)


RENDERER_CASES = [
    ("<%= p('a.b') %>", {"a": {"b": 0}}, "0"),
    ("<%= p('a.d') %>", {}, "dflt"),
    ("<%= p('a.x', 'fb') %>", {}, "fb"),
    ("<%= p('a.b', 'fb') %>", {"a": {"b": False}}, "false"),
    ("<% if_p('a.b', 'a.d') do |b, d| %><%= b %><%= d %><% end %>", {"a": {"b": 1}}, "1dflt"),
    ("<% if_p('a.x') do |x| %>set<% end %>", {}, ""),
    ("<%= link('etcd').instances.map(&:address).join(',') %>", {}, "10.0.0.1"),
    ("<% if_link('etcd') do |l| %><%= l.p('a.b') %><% end %>", {"a": {"b": 2}}, "2"),
    ("<%= spec.name %>/<%= spec.index %>/<%= spec.bootstrap %>", {}, "g/0/true"),
]


@pytest.mark.parametrize(("template", "props", "expected"), RENDERER_CASES)
def test_renderer_behaves_like_bosh_template(
    tmp_path: Path, template: str, props: dict[str, Any], expected: str
) -> None:
    job = tmp_path / "job"
    (job / "templates").mkdir(parents=True)
    (job / "spec").write_text(
        "templates: {t.erb: t}\nproperties:\n  a.b: {}\n  a.d: {default: dflt}\n"
    )
    (job / "templates" / "t.erb").write_text(template)
    (job / "monit").write_text("")
    link = {"instances": [{"address": "10.0.0.1"}], "properties": props}
    ctx = {"properties": props, "spec": {"name": "g", "index": 0, "bootstrap": True},
           "links": {"etcd": link}}  # fmt: skip
    assert (render(ctx, tmp_path / "out", job) / "t").read_text() == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("<%= p('a.b') %>", """Can't find property '["a.b"]'"""),
        ("<%= link('other').address %>", "Can't find link 'other'"),
    ],
)
def test_renderer_refuses_like_bosh_template(tmp_path: Path, template: str, message: str) -> None:
    job = tmp_path / "job"
    (job / "templates").mkdir(parents=True)
    (job / "spec").write_text("templates: {t.erb: t}\nproperties: {a.b: {}}\n")
    (job / "templates" / "t.erb").write_text(template)
    (job / "monit").write_text("")
    with pytest.raises(RenderError) as caught:
        render({"properties": {}, "spec": {}, "links": {}}, tmp_path / "out", job)
    assert str(caught.value) == f"template t.erb: {message}"


def _other_ca(values: dict[str, str]) -> dict[str, str]:
    return {**values, "ca_cert": _tls()["ca_cert"]}


def _prestart_lines(tmp_path: Path, props: dict[str, Any]) -> list[str]:
    out = _render(tmp_path, props)
    settings = Settings.load(str(out / "config/lifecycle.json"))
    return check_member_config(settings.config_file) + check_certs(settings.certs)


@pytest.mark.parametrize(
    ("change", "property_name", "needle"),
    [
        (lambda v: {**v, "server_cert": "not a certificate"}, "etcd.server_cert", "no PEM"),
        (lambda v: {**v, "server_key": v["client_key"]}, "etcd.server_key", "does not match"),
        (lambda v: {**v, "peer_cert": v["server_cert"]}, "etcd.peer_cert", "not signed"),
        (_other_ca, "etcd.server_cert", "not signed by any CA"),
        (lambda v: v, "etcd.server_cert", "no SAN for host 10.244.0.2"),
        (lambda v: {**v, "client_ip": "not-an-ip"}, "etcd.client_ip", "not-an-ip"),
    ],
    ids=[
        "wrong PEM",
        "key mismatch",
        "peer cert from the client CA",
        "wrong CA",
        "missing SAN",
        "client_ip not an IP",
    ],
)
def test_prestart_refusals_name_the_property(
    tmp_path: Path, tls_values: dict[str, str], change: Any, property_name: str, needle: str
) -> None:
    lines = _prestart_lines(tmp_path, {"etcd": change(dict(tls_values))})
    assert lines, "pre-start accepted a broken property set"
    assert any(line.startswith(f"{property_name}: ") and needle in line for line in lines), lines


def _peers_without_link(tmp_path: Path, props: dict[str, Any]) -> list[dict[str, str]]:
    (me,) = group("etcd", ADDRESSES[:1])
    ctx = context(me, [me], props)
    ctx["links"] = {}
    out = render(ctx, tmp_path / "jobs" / "etcd")
    return json.loads((out / "config/lifecycle.json").read_text())["peers"]


def test_without_a_link_machines_and_cluster_name_the_peers(
    tmp_path: Path, tls_values: dict[str, str]
) -> None:
    plain = _peers_without_link(tmp_path / "a", _plain(machines=["10.0.0.9"]))
    assert plain == [{"name": "10.0.0.9", "client_url": "http://10.0.0.9:4001",
                      "peer_url": "http://10.0.0.9:7001"}]  # fmt: skip
    cluster = [{"name": "etcd_z1", "instances": 2}]
    dns = _tls_props(tls_values, advertise_urls_dns_suffix=SUFFIX, cluster=cluster, machines=[])
    assert [p["client_url"] for p in _peers_without_link(tmp_path / "b", dns)] == [
        f"https://etcd-z1-0.{SUFFIX}:4001", f"https://etcd-z1-1.{SUFFIX}:4001",
    ]  # fmt: skip
    machines = _tls_props(tls_values, advertise_urls_dns_suffix=SUFFIX, machines=["10.0.0.9"])
    assert _peers_without_link(tmp_path / "c", machines)[0]["client_url"] == "https://10.0.0.9:4001"


@pytest.mark.parametrize("fmt", ["vars", "ops"])
def test_bosh_vars_command_writes_every_tls_property(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out.yml"
    argv = ["bosh-vars", "--format", fmt, "--output", str(path), "--key-type", "ecdsa"]
    assert certtool.main(argv) == 0
    assert path.stat().st_mode & 0o077 == 0, "keys inside: the file is the operator's only"
    document = yaml.safe_load(path.read_text())
    if fmt == "vars":
        values = {name.removeprefix("etcd_"): value for name, value in document.items()}
    else:
        values = {op["path"].split("/")[-1].rstrip("?"): op["value"] for op in document}
        assert {op["type"] for op in document} == {"replace"}
    assert list(values) == list(certtool.BOSH_PROPERTIES)
    assert all(v.startswith("-----BEGIN ") for v in values.values())
    assert certtool.main(argv) == 1, "an existing file is never overwritten"


def test_tls_ops_file_uses_the_vars_the_command_writes(tmp_path: Path) -> None:
    ops = yaml.safe_load((RELEASE / "manifests/operations/tls.yml").read_text())
    used = {op["value"][2:-2] for op in ops if str(op["value"]).startswith("((")}
    assert used == {f"etcd_{name}" for name in certtool.BOSH_PROPERTIES}
    for name in ("single-instance.yml", "five-instances.yml", "rename-instance-group.yml",
                 "tls-dns-names.yml"):  # fmt: skip
        doc = manifest("tls.yml", name, variables=dict.fromkeys(used, "x"))
        group_name = "new_etcd" if name.startswith("rename") else "etcd"
        assert job_properties(doc, group_name)["etcd"]["require_ssl"] is True
