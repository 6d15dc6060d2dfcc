"""Session-scoped test certificates: generated once, written under a temporary directory."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.tls.helpers import SERVICE, YEAR, Material, Pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def material(pki: Pki) -> Material:
    ca = pki.ca("etcdCA")
    other = pki.ca("otherCA")
    bundle = pki.root / "bundle.crt"
    bundle.write_bytes(ca.pem + other.pem)
    long_ago = dt.datetime.now(dt.UTC) - 2 * YEAR
    return Material(
        ca=ca,
        other_ca=other,
        bundle=bundle,
        server=pki.leaf(ca, SERVICE, [SERVICE, f"*.{SERVICE}"], ["127.0.0.1", "::1"]),
        client=pki.leaf(ca, "clientName"),
        peer=pki.leaf(ca, f"*.{SERVICE}", [f"*.{SERVICE}", SERVICE]),
        other_client=pki.leaf(other, "intruder"),
        expired_client=pki.leaf(ca, "oldClient", not_before=long_ago),
        expired_server=pki.leaf(ca, "old", [SERVICE], ["127.0.0.1"], not_before=long_ago),
    )
