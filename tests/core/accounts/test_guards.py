"""Guards decide authorisation before a handler runs: roles, devices, and role-bound flags."""

from __future__ import annotations

from typing import Any, cast

import pytest
from litestar import HttpMethod, Litestar, Request, Router, get, route
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    SerializationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.testing import AsyncTestClient, RequestFactory
from litestar.utils.scope.state import ScopeState

from core_service.platform.errors import Forbidden
from core_service.platform.guards import requires_device, requires_role, requires_role_to_set
from core_service.platform.principals import DevicePrincipal, StaffPrincipal

HANDLER = cast(BaseRouteHandler, None)  # the guards do not look at the handler
WAIVE = requires_role_to_set("waive_fee", "manager", "Managers only.", "マネージャーのみ。")


def _staff(role: str) -> StaffPrincipal:
    return StaffPrincipal(id=1, facility_id=1, email="s@example.jp", role=role, display_name="S")


def _post(user: Any, body: dict[str, Any]) -> Any:
    return RequestFactory().post("/api/v1/orders/K1/cancel", data=body, user=user)


async def test_staff_may_cancel_without_waiving_the_fee() -> None:
    await WAIVE(_post(_staff("staff"), {"waive_fee": False}), HANDLER)


async def test_staff_may_not_waive_the_fee() -> None:
    with pytest.raises(Forbidden) as refused:
        await WAIVE(_post(_staff("staff"), {"waive_fee": True}), HANDLER)
    assert refused.value.message("ja") == "マネージャーのみ。"


async def test_managers_and_owners_may_waive_the_fee() -> None:
    for role in ("manager", "owner"):
        await WAIVE(_post(_staff(role), {"waive_fee": True}), HANDLER)


async def test_the_flag_guard_leaves_a_body_that_is_not_json_to_the_handler() -> None:
    scope = RequestFactory().post("/", user=_staff("staff")).scope
    ScopeState.from_scope(scope).body = b'{"waive_fee": tru'
    request: Request[Any, Any, Any] = Request(scope)
    await WAIVE(request, HANDLER)
    with pytest.raises(SerializationException):  # what the guard had to swallow
        await request.json()


async def test_the_flag_guard_needs_staff() -> None:
    device = DevicePrincipal(id=1, facility_id=1, kind="kiosk", name="K", facility_version=1)
    with pytest.raises(NotAuthorizedException):
        await WAIVE(_post(device, {"waive_fee": True}), HANDLER)


def test_a_flag_guard_for_an_unknown_role_fails_at_start() -> None:
    with pytest.raises(ValueError):
        requires_role_to_set("waive_fee", "boss", "", "")


async def test_a_role_guard_refuses_lower_roles() -> None:
    with pytest.raises(PermissionDeniedException):
        await requires_role("manager")(_post(_staff("staff"), {}), HANDLER)


async def test_a_device_guard_refuses_the_other_kind_of_device() -> None:
    gate = DevicePrincipal(id=1, facility_id=1, kind="gate", name="G", facility_version=1)
    with pytest.raises(PermissionDeniedException):
        await requires_device("kiosk")(_post(gate, {}), HANDLER)


def _guarded_app() -> Litestar:
    """An app without the authentication middleware: one guarded GET, and a guarded
    route with an OPTIONS handler of its own."""

    @get("/open-options", sync_to_thread=False)
    def listing() -> str:
        return "listing"

    @route("/own-options", http_method=[HttpMethod.OPTIONS], sync_to_thread=False)
    def own_options() -> str:
        return "our own answer"

    return Litestar(
        [Router("/", route_handlers=[listing, own_options], guards=[requires_role("viewer")])]
    )


async def test_litestars_own_options_answer_passes_the_guards() -> None:
    async with AsyncTestClient(app=_guarded_app()) as client:
        response = await client.options("/open-options")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]


async def test_an_options_handler_of_our_own_stays_guarded() -> None:
    async with AsyncTestClient(app=_guarded_app()) as client:
        response = await client.options("/own-options")
    assert response.status_code == 401


async def test_a_guard_without_authentication_middleware_refuses_rather_than_fails() -> None:
    async with AsyncTestClient(app=_guarded_app()) as client:
        response = await client.get("/open-options")
    assert response.status_code == 401
