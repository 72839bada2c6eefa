"""The client address a request came from, as login throttling counts it.

The ASGI server has already replaced a trusted proxy's address by the one it forwarded
(uvicorn's ``forwarded_allow_ips``, set from ``KIPPU_TRUSTED_PROXIES``), so this module
believes no header itself: a forged ``X-Forwarded-For`` from anyone else changes nothing.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

#: IPv6 clients are counted by their /64: one subscriber usually holds a whole /64, and
#: counting single addresses would give an attacker 2**64 fresh ones.
_IPV6_PREFIX = 64


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{_IPV6_PREFIX}", strict=False))
    return str(address)
