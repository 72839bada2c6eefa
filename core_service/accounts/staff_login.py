"""Staff login, logout and "who am I", as the staff API answers them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.auth import issue_staff_token
from core_service.accounts.schemas import LoginIn, LoginOut, StaffOut
from core_service.accounts.service import authenticate
from core_service.facilities.presenters import facility_out
from core_service.models import Facility, StaffUser
from core_service.platform.principals import StaffPrincipal
from core_service.platform.security import Signer


def _staff_out(staff: StaffUser) -> StaffOut:
    return StaffOut(
        id=staff.id, email=staff.email, display_name=staff.display_name, role=staff.role
    )


async def log_in(session: AsyncSession, signer: Signer, login: LoginIn, address: str) -> LoginOut:
    """Check the facility, e-mail and password; answer with a bearer token."""
    staff, facility = await authenticate(
        session, login.facility, login.email, login.password, address
    )
    return LoginOut(
        token=issue_staff_token(signer, staff.id, staff.token_version),
        role=staff.role,
        staff=_staff_out(staff),
        facility=facility_out(facility),
    )


async def log_out(session: AsyncSession, principal: StaffPrincipal) -> None:
    """End every token of the staff member (each device and browser they logged in on)."""
    await session.execute(
        sa.update(StaffUser)
        .where(StaffUser.id == principal.id, StaffUser.facility_id == principal.facility_id)
        .values(token_version=StaffUser.token_version + 1)
    )
    await session.commit()


async def who_am_i(session: AsyncSession, principal: StaffPrincipal) -> LoginOut:
    """The logged-in staff member and their facility (no new token)."""
    staff = await session.get(StaffUser, principal.id)
    facility = await session.get(Facility, principal.facility_id)
    # The auth middleware built the principal from the staff row, which the facility
    # row outlives (foreign key).
    assert staff is not None and facility is not None
    return LoginOut(
        token="", role=staff.role, staff=_staff_out(staff), facility=facility_out(facility)
    )
