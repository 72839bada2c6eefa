"""Guards: the only place authorisation is decided for API routes.

``requires_role("manager")`` admits staff of at least that role; ``requires_device
("kiosk")`` admits enrolled, unrevoked devices of that kind. Staff and devices act only
for their own facility: handlers take the facility from the principal, never from the
request body, which is the tenant check used everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core_service.platform.principals import DevicePrincipal, StaffPrincipal
from kippu_contract.roles import ROLE_RANK, role_at_least

# Async, although they do no I/O: Litestar runs a plain function guard in a worker
# thread, which cost more than the check itself on every API request.
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires_role(minimum: str) -> Guard:
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}")

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, StaffPrincipal):
            raise NotAuthorizedException("Staff login required.")
        if not role_at_least(user.role, minimum):
            raise PermissionDeniedException(f"This needs the {minimum} role or higher.")

    guard.__name__ = f"requires_role_{minimum}"
    return guard


def requires_device(kind: str) -> Guard:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, DevicePrincipal):
            raise NotAuthorizedException(f"A {kind} device token is required.")
        if user.kind != kind:
            raise PermissionDeniedException(f"Only {kind} devices may do this.")

    guard.__name__ = f"requires_device_{kind}"
    return guard
