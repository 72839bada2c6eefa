"""The facility's devices as staff and the devices themselves see them.

Enrolment answers, the device list with its "silent" flag, heartbeats and staff calls.
A device's ``status`` JSON holds both its last heartbeat and its staff call, so every
write here merges into it rather than replacing it.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.facilities.presenters import facility_out
from core_service.kiosks.devices import create_device, enrol, open_call
from core_service.kiosks.schemas import (
    DeviceOut,
    EnrolOut,
    KioskHeartbeatIn,
    NewDeviceOut,
    StaffCallIn,
    StaffCallOut,
)
from core_service.models import Device, Facility, utcnow
from core_service.platform import audit
from core_service.platform.errors import NotFound

#: A device that has not sent a heartbeat for this long is flagged as silent.
SILENT_AFTER = dt.timedelta(minutes=2)
#: Longest staff-call detail kept; the kiosk's touch keyboard could send any length.
MAX_CALL_DETAIL = 500


async def enrol_device(session: AsyncSession, code: str) -> EnrolOut:
    """Exchange a one-time enrolment code for the device's token and its facility."""
    device, token = await enrol(session, code)
    facility = await session.get(Facility, device.facility_id)
    assert facility is not None  # the foreign key holds it
    return EnrolOut(
        token=token,
        device={"id": device.id, "name": device.name, "kind": device.kind},
        facility=facility_out(facility),
    )


async def new_device(
    session: AsyncSession, facility_id: int, kind: str, name: str, *, actor: str
) -> NewDeviceOut:
    """Create a device and answer with its one-time enrolment code (never audited)."""
    new = await create_device(session, facility_id, kind, name)
    audit.record(
        session,
        facility_id,
        actor,
        "device.create",
        subject=f"device:{new.device.id}",
        data={"after": {"kind": kind, "name": name}},
    )
    await session.commit()
    assert new.device.enrolment_expires_at is not None  # create_device sets it
    return NewDeviceOut(
        id=new.device.id,
        kind=new.device.kind,
        name=new.device.name,
        enrolment_code=new.enrolment_code,
        enrolment_expires_at=new.device.enrolment_expires_at,
    )


async def device_overview(session: AsyncSession, facility_id: int) -> list[DeviceOut]:
    """Every device of the facility, flagged silent when its heartbeats stopped."""
    now = utcnow()
    devices = await session.scalars(
        sa.select(Device).where(Device.facility_id == facility_id).order_by(Device.id)
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


async def facility_device(session: AsyncSession, facility_id: int, device_id: int) -> Device:
    """The facility's device, or 404: another facility's device id tells nothing."""
    device = await session.scalar(
        sa.select(Device).where(Device.id == device_id, Device.facility_id == facility_id)
    )
    if device is None:
        raise NotFound("No such device.", "端末が見つかりません。")
    return device


async def _own_device(session: AsyncSession, device_id: int) -> Device:
    # The id comes from the device's verified token, so the row exists.
    device = await session.get(Device, device_id)
    assert device is not None
    return device


async def record_heartbeat(
    session: AsyncSession, device_id: int, heartbeat: KioskHeartbeatIn
) -> None:
    """Note that the device is alive and what it reports (printer, paper, ...)."""
    device = await _own_device(session, device_id)
    device.last_seen_at = utcnow()
    # Merge, not replace: the open staff call lives in the same JSON and must survive.
    device.status = {**device.status, **msgspec.to_builtins(heartbeat)}
    await session.commit()


async def call_staff(session: AsyncSession, device_id: int, request: StaffCallIn) -> StaffCallOut:
    """Record a call for staff; repeated calls while one is open keep the first time."""
    device = await _own_device(session, device_id)
    current = device.status.get("staff_call") or {}
    at = current["at"] if current.get("open") else utcnow().isoformat()
    call = StaffCallOut(
        open=True, reason=request.reason, detail=request.detail[:MAX_CALL_DETAIL], at=at
    )
    device.status = {**device.status, "staff_call": msgspec.to_builtins(call)}
    await session.commit()
    return call


async def close_call(session: AsyncSession, facility_id: int, device_id: int) -> None:
    """Staff answered the device's call; the call stays in the status as history."""
    device = await facility_device(session, facility_id, device_id)
    call = dict(device.status.get("staff_call") or {})
    if call.get("open"):
        call.update(open=False, closed_at=utcnow().isoformat())
        device.status = {**device.status, "staff_call": call}
        await session.commit()
