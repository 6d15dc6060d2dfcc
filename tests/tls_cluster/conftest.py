"""The session PKI of tests/tls (reused, not duplicated) for the daemon-level TLS tests."""

from tests.tls.conftest import material, pki

__all__ = ["material", "pki"]
