"""Staff API for devices: create (with a one-time enrolment code), list health and open
staff calls, close a call, set a kiosk's allowed products, revoke."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.kiosks import fleet
from core_service.kiosks.assortment import set_allowed_products
from core_service.kiosks.devices import revoke
from core_service.kiosks.schemas import AllowedProductsIn, DeviceIn, DeviceOut, NewDeviceOut
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.tenancy import Tenant


class DeviceController(Controller):
    path = "/api/v1/devices"

    @get("/", guards=[requires_role("staff")])
    async def list_devices(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[DeviceOut]:
        return await fleet.device_overview(db_session, tenant.id)

    @post("/", guards=[requires_role("manager")], status_code=HTTP_201_CREATED)
    async def create(
        self,
        request: Request[StaffPrincipal, Any, Any],
        data: JSONBody[DeviceIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> NewDeviceOut:
        return await fleet.new_device(
            db_session, tenant.id, data.kind, data.name, actor=request.user.email
        )

    @post(
        "/{device_id:int}/revoke",
        guards=[requires_role("manager")],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke_device(
        self,
        request: Request[StaffPrincipal, Any, Any],
        device_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await revoke(db_session, tenant.id, device_id, actor=request.user.email)

    @post(
        "/{device_id:int}/close-call",
        guards=[requires_role("staff")],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def close_call(
        self,
        device_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Staff answered the kiosk's call; the call stays in the status as history."""
        await fleet.close_call(db_session, tenant.id, device_id)

    @post(
        "/{device_id:int}/products",
        guards=[requires_role("manager")],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def set_products(
        self,
        request: Request[StaffPrincipal, Any, Any],
        device_id: FromPath[int],
        data: JSONBody[AllowedProductsIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Limit a kiosk to these products (an empty list: every kiosk product)."""
        await set_allowed_products(
            db_session, tenant.id, device_id, data.product_ids, actor=request.user.email
        )
