"""Staff API for devices: create (with a one-time enrolment code), list health and open
staff calls, close a call, set a kiosk's allowed products, revoke."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.kiosks.devices import create_device, open_call, revoke
from core_service.kiosks.schemas import AllowedProductsIn, DeviceIn, DeviceOut, NewDeviceOut
from core_service.models import Device, utcnow
from core_service.platform.errors import InvalidInput, NotFound
from core_service.platform.guards import requires_role
from core_service.platform.tenancy import Tenant

#: A kiosk that has not sent a heartbeat for this long is flagged as silent.
SILENT_AFTER = dt.timedelta(minutes=2)


class DeviceController(Controller):
    path = "/api/v1/devices"

    @get("/", guards=[requires_role("staff")])
    async def list_devices(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[DeviceOut]:
        now = utcnow()
        devices = await db_session.scalars(
            sa.select(Device).where(Device.facility_id == tenant.id).order_by(Device.id)
        )
        return [
            DeviceOut(
                id=d.id,
                kind=d.kind,
                name=d.name,
                enrolled=d.token_hash is not None,
                revoked=d.revoked_at is not None,
                last_seen_at=d.last_seen_at,
                silent=d.revoked_at is None
                and (d.last_seen_at is None or now - d.last_seen_at > SILENT_AFTER),
                status=d.status,
                open_call=open_call(d.status),
                allowed_product_ids=[int(p) for p in d.allowed_product_ids or []],
            )
            for d in devices
        ]

    @post("/", guards=[requires_role("manager")], status_code=HTTP_201_CREATED)
    async def create(
        self,
        data: JSONBody[DeviceIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> NewDeviceOut:
        new = await create_device(db_session, tenant.id, data.kind, data.name)
        await db_session.commit()
        assert new.device.enrolment_expires_at is not None
        return NewDeviceOut(
            id=new.device.id,
            kind=new.device.kind,
            name=new.device.name,
            enrolment_code=new.enrolment_code,
            enrolment_expires_at=new.device.enrolment_expires_at,
        )

    @post(
        "/{device_id:int}/revoke",
        guards=[requires_role("manager")],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke_device(
        self,
        device_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await revoke(db_session, tenant.id, device_id)

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
        device = await _device(db_session, tenant.id, device_id)
        call = dict(device.status.get("staff_call") or {})
        if call.get("open"):
            call.update(open=False, closed_at=utcnow().isoformat())
            device.status = {**device.status, "staff_call": call}
            await db_session.commit()

    @post(
        "/{device_id:int}/products",
        guards=[requires_role("manager")],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def set_products(
        self,
        device_id: FromPath[int],
        data: JSONBody[AllowedProductsIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Limit a kiosk to these products (an empty list: every kiosk product)."""
        device = await _device(db_session, tenant.id, device_id)
        if device.kind != "kiosk":
            raise InvalidInput("Only kiosks have allowed products.", "商品の制限は券売機のみです。")
        device.allowed_product_ids = sorted(set(data.product_ids))
        await db_session.commit()


async def _device(session: AsyncSession, facility_id: int, device_id: int) -> Device:
    device = await session.scalar(
        sa.select(Device).where(Device.id == device_id, Device.facility_id == facility_id)
    )
    if device is None:
        raise NotFound("No such device.", "端末が見つかりません。")
    return device
