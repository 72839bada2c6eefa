"""Staff login and "who am I"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.auth import issue_staff_token
from core_service.accounts.schemas import LoginIn, LoginOut, StaffOut
from core_service.accounts.service import authenticate
from core_service.facilities.presenters import facility_out
from core_service.models import Facility, StaffUser
from core_service.platform.guards import requires_role
from core_service.platform.security import Signer


def _staff_out(staff: StaffUser) -> StaffOut:
    return StaffOut(
        id=staff.id, email=staff.email, display_name=staff.display_name, role=staff.role
    )


class AuthController(Controller):
    path = "/api/v1/auth"

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self,
        data: JSONBody[LoginIn],
        db_session: NamedDependency[AsyncSession],
        signer: NamedDependency[Signer],
    ) -> LoginOut:
        staff, facility = await authenticate(db_session, data.facility, data.email, data.password)
        return LoginOut(
            token=issue_staff_token(signer, staff.id),
            role=staff.role,
            staff=_staff_out(staff),
            facility=facility_out(facility),
        )

    @get("/me", guards=[requires_role("viewer")])
    async def me(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> LoginOut:
        staff = await db_session.get(StaffUser, request.user.id)
        facility = await db_session.get(Facility, request.user.facility_id)
        assert staff is not None and facility is not None
        return LoginOut(
            token="", role=staff.role, staff=_staff_out(staff), facility=facility_out(facility)
        )
