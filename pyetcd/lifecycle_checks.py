"""pre-start's checks of the rendered job: the etcd config through pyetcd's own validation and
the certificates through `pyetcd-certs check`, each problem led by the manifest property to fix
(`etcd.server_cert: ...`), so a bad property set fails the deploy before the member starts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import yaml

from pyetcd.config import load_config
from pyetcd.flags import ConfigError
from tls.checks import check_client_material, check_server_material


def _owner(problem: str, paths: dict[str, str]) -> str:
    """The manifest property a problem line is about: the first rendered file it names."""
    hits = [(problem.find(path), prop) for path, prop in paths.items() if path in problem]
    return min(hits)[1] if hits else "etcd"


def check_certs(certs: Sequence[dict[str, Any]], now: dt.datetime | None = None) -> list[str]:
    """`pyetcd-certs check` on every rendered certificate, each line led by its property.

    Each entry of `certs` names its files as [property, rendered path] pairs."""
    lines = []
    for spec in certs:
        (cert_prop, cert), (key_prop, key) = spec["cert"], spec["key"]
        ca_prop, ca = spec.get("ca") or ("", None)
        paths = {cert: cert_prop, key: key_prop, **({ca: ca_prop} if ca else {})}
        if spec["kind"] == "server":
            problems = check_server_material(
                cert, key, ca, spec.get("hosts", ()), label=spec["label"], now=now
            )
        else:
            problems = check_client_material(ca, cert, key, label=spec["label"], now=now)
        lines += [f"{_owner(p, paths)}: {p}" for p in problems]
    return lines


# Where a refusal of the rendered config comes from: flag (or value) -> manifest property.
_FLAG_PROPERTIES = {
    "--heartbeat-interval": "etcd.heartbeat_interval_in_milliseconds",
    "--election-timeout": "etcd.election_timeout_in_milliseconds",
    "--listen-client-urls": "etcd.client_ip",
    "--listen-peer-urls": "etcd.peer_ip",
    "--advertise-client-urls": "etcd.advertise_urls_dns_suffix",
    "--initial-advertise-peer-urls": "etcd.advertise_urls_dns_suffix",
    "--initial-cluster": "etcd.advertise_urls_dns_suffix",
}


def check_member_config(config_file: str) -> list[str]:
    """The rendered etcd config through pyetcd's own validation, as the member will load it."""
    try:
        with open(config_file, encoding="utf-8") as fh:
            member = yaml.safe_load(fh)
        load_config(["--config-file", config_file], {})
    except ConfigError as exc:
        owners = dict(_FLAG_PROPERTIES)
        owners[str(member.get("listen-client-urls"))] = "etcd.client_ip"
        owners[str(member.get("listen-peer-urls"))] = "etcd.peer_ip"
        return [f"{_owner(exc.message, owners)}: {exc.message}"]
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [f"etcd: cannot read the rendered {config_file}: {exc}"]
    return []
