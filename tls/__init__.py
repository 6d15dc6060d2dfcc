"""TLS for both listeners and the peer dialer: contexts, startup checks, hot reload, CA tool.

Depends only on the standard library and `cryptography`.
"""

from tls.checks import check_client_material, check_server_material
from tls.contexts import TLSMaterialError, client_context, server_context
from tls.reload import ReloadingClientContext, ReloadingContext, ReloadingServerContext

__all__ = [
    "ReloadingClientContext",
    "ReloadingContext",
    "ReloadingServerContext",
    "TLSMaterialError",
    "check_client_material",
    "check_server_material",
    "client_context",
    "server_context",
]
