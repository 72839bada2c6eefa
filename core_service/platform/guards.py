"""Guards: the only place authorisation is decided for API routes.

``requires_role("manager")`` admits staff of at least that role; ``requires_device
("kiosk")`` admits enrolled, unrevoked devices of that kind; ``requires_operator()``
admits platform operators only (deployment-level: no staff token passes it, and an
operator token passes no staff guard); ``requires_role_to_set
("waive_fee", "manager", ...)`` admits a request that turns on a flag of its JSON body
only from staff of at least that role (the rest of the route stays open to its own
guard's roles). Staff and devices act only for their own facility: handlers take the
facility from the principal, never from the request body, which is the tenant check used
everywhere (the ``tenant`` dependency).

Every guard lets Litestar's own OPTIONS answer through (204 with the route's methods in
``Allow``): it runs no handler and reveals only which methods exist, browsers send CORS
preflights without credentials, and the authentication middleware skips OPTIONS, so
there is no principal to check. Guards read the principal from the scope, so a request
the middleware did not see is refused (401) rather than failing (500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    SerializationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler

from core_service.platform.errors import Forbidden
from core_service.platform.principals import DevicePrincipal, OperatorPrincipal, StaffPrincipal
from kippu_contract.roles import ROLE_RANK, role_at_least

# Async, although they do no I/O: Litestar runs a plain function guard in a worker
# thread, which cost more than the check itself on every API request.
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]

#: The name of the handler Litestar adds to every route that declares no OPTIONS handler.
_GENERATED_OPTIONS = "options_handler"


def _unguarded(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> bool:
    """Whether this is Litestar's generated answer to OPTIONS (see the module docstring);
    an OPTIONS handler of our own would be guarded like any other."""
    return (
        connection.scope.get("method") == "OPTIONS"
        and isinstance(handler, HTTPRouteHandler)
        and handler.http_methods == {"OPTIONS"}
        and handler.handler_name == _GENERATED_OPTIONS
    )


#: What a guard checks: the principal (None without one) and the connection.
Check = Callable[[object, ASGIConnection[Any, Any, Any, Any]], Awaitable[None]]


def _guard(name: str, check: Check) -> Guard:
    """The guard running ``check`` on the request's principal, read from the scope
    (None where the authentication middleware did not run: a 401, not a 500), except
    for Litestar's own OPTIONS answer."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if not _unguarded(connection, handler):
            await check(connection.scope.get("user"), connection)

    guard.__name__ = name
    return guard


def requires_role(minimum: str) -> Guard:
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}")

    async def check(user: object, _: ASGIConnection[Any, Any, Any, Any]) -> None:
        if not isinstance(user, StaffPrincipal):
            raise NotAuthorizedException("Staff login required.")
        if not role_at_least(user.role, minimum):
            raise PermissionDeniedException(f"This needs the {minimum} role or higher.")

    return _guard(f"requires_role_{minimum}", check)


def requires_device(kind: str) -> Guard:
    async def check(user: object, _: ASGIConnection[Any, Any, Any, Any]) -> None:
        if not isinstance(user, DevicePrincipal):
            raise NotAuthorizedException(f"A {kind} device token is required.")
        if user.kind != kind:
            raise PermissionDeniedException(f"Only {kind} devices may do this.")

    return _guard(f"requires_device_{kind}", check)


def requires_operator() -> Guard:
    async def check(user: object, _: ASGIConnection[Any, Any, Any, Any]) -> None:
        if not isinstance(user, OperatorPrincipal):
            raise NotAuthorizedException("Platform operator login required.")

    return _guard("requires_operator", check)


def requires_role_to_set(flag: str, minimum: str, refusal_en: str, refusal_ja: str) -> Guard:
    """Refuse (403, with the bilingual ``refusal``) a JSON body that sets ``flag`` to a true
    value, unless the staff member has at least the ``minimum`` role.

    Use it beside ``requires_role``, which decides who may call the route at all. It reads
    the body, which Litestar keeps for the handler; a body that is not JSON passes, for
    the handler's own validation to refuse with its usual answer."""
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}")

    async def check(user: object, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        if not isinstance(user, StaffPrincipal):
            raise NotAuthorizedException("Staff login required.")
        if role_at_least(user.role, minimum) or not isinstance(connection, Request):
            return
        try:
            body = await connection.json()
        except SerializationException:
            return
        if isinstance(body, dict) and body.get(flag):
            raise Forbidden(refusal_en, refusal_ja)

    return _guard(f"requires_{minimum}_to_set_{flag}", check)
