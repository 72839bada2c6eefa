"""Staff users: creation and password login."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidInput, Unauthorized
from ..models import Facility, StaffUser
from ..security import hash_password, verify_password
from .roles import ROLES

# Verifying against a real hash when the user does not exist keeps the response time the
# same, so logins cannot be used to find out which e-mail addresses are staff.
_DUMMY_HASH = hash_password("kippu-timing-equaliser")


async def create_staff(
    session: AsyncSession, facility_id: int, email: str, password: str, role: str, display_name: str = ""
) -> StaffUser:
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.")
    if len(password) < 8:
        raise InvalidInput("Passwords need at least 8 characters.", "パスワードは8文字以上にしてください。")
    staff = StaffUser(
        facility_id=facility_id,
        email=email.strip().lower(),
        password_hash=hash_password(password),
        role=role,
        display_name=display_name,
    )
    session.add(staff)
    await session.flush()
    return staff


async def authenticate(
    session: AsyncSession, facility_slug: str, email: str, password: str
) -> tuple[StaffUser, Facility]:
    row = (
        await session.execute(
            sa.select(StaffUser, Facility)
            .join(Facility, Facility.id == StaffUser.facility_id)
            .where(Facility.slug == facility_slug, StaffUser.email == email.strip().lower())
        )
    ).first()
    if row is None:
        verify_password(_DUMMY_HASH, password)
        raise Unauthorized("Wrong facility, e-mail or password.", "施設・メールアドレス・パスワードが正しくありません。")
    staff, facility = row
    if not staff.active or not verify_password(staff.password_hash, password):
        raise Unauthorized("Wrong facility, e-mail or password.", "施設・メールアドレス・パスワードが正しくありません。")
    return staff, facility
