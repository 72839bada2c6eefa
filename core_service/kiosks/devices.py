"""Creating, enrolling and revoking devices (kiosks and gate scanners).

Staff create a device and get a one-time enrolment code; the device exchanges it for a
long-lived bearer token. Only digests of codes and tokens are stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.auth import DEVICE_TOKEN_PREFIX
from core_service.kiosks.schemas import StaffCallOut
from core_service.models import Device, utcnow
from core_service.platform import audit
from core_service.platform.errors import InvalidInput, NotFound
from core_service.platform.security import new_token, token_digest

ENROLMENT_VALID_FOR = dt.timedelta(hours=24)
DEVICE_KINDS = ("kiosk", "gate")


@dataclass(frozen=True, slots=True)
class NewDevice:
    device: Device
    enrolment_code: str


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + new_token(32)


async def create_device(session: AsyncSession, facility_id: int, kind: str, name: str) -> NewDevice:
    if kind not in DEVICE_KINDS:
        raise InvalidInput(f"Device kind must be one of {DEVICE_KINDS}.")
    code = new_token(9)
    device = Device(
        facility_id=facility_id,
        kind=kind,
        name=name,
        enrolment_code_hash=token_digest(code),
        enrolment_expires_at=utcnow() + ENROLMENT_VALID_FOR,
    )
    session.add(device)
    await session.flush()
    return NewDevice(device, code)


async def enrol(session: AsyncSession, code: str) -> tuple[Device, str]:
    """Exchange a one-time enrolment code for a device token (the code then dies)."""
    device = await session.scalar(
        sa.select(Device).where(Device.enrolment_code_hash == token_digest(code.strip()))
    )
    if device is None or device.revoked_at is not None:
        raise NotFound("Unknown enrolment code.", "登録コードが正しくありません。")
    if device.enrolment_expires_at is None or device.enrolment_expires_at < utcnow():
        raise InvalidInput(
            "This enrolment code has expired.", "登録コードの有効期限が切れています。"
        )
    token = new_device_token()
    device.token_hash = token_digest(token)
    device.enrolment_code_hash = None
    device.enrolment_expires_at = None
    await session.commit()
    return device, token


async def revoke(session: AsyncSession, facility_id: int, device_id: int, *, actor: str) -> None:
    device = await session.scalar(
        sa.select(Device).where(Device.id == device_id, Device.facility_id == facility_id)
    )
    if device is None:
        raise NotFound("No such device.", "端末が見つかりません。")
    device.revoked_at = utcnow()
    device.token_hash = None
    # An unused enrolment code dies with the device.
    device.enrolment_code_hash = None
    audit.record(
        session,
        facility_id,
        actor,
        "device.revoke",
        subject=f"device:{device.id}",
        data={"before": {"kind": device.kind, "name": device.name}},
    )
    await session.commit()


async def create_enrolled_device(
    session: AsyncSession, facility_id: int, kind: str, name: str
) -> tuple[Device, str]:
    """A device with a token straight away (demo and tests; staff use enrolment codes)."""
    new = await create_device(session, facility_id, kind, name)
    token = new_device_token()
    new.device.token_hash = token_digest(token)
    new.device.enrolment_code_hash = None
    new.device.enrolment_expires_at = None
    await session.flush()
    return new.device, token


def open_call(status: dict[str, Any]) -> StaffCallOut | None:
    """The device's open staff call, if any (kept in ``Device.status["staff_call"]``)."""
    call = status.get("staff_call")
    if not isinstance(call, dict) or not call.get("open"):
        return None
    return msgspec.convert(call, StaffCallOut)
