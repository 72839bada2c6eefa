"""``/api/v1/staff``: the facility's staff accounts, for its owner and managers.

Who may manage whom is decided by :mod:`core_service.accounts.staff_admin` (it depends on
the member's role); the guard admits managers and owners only.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import staff_admin
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from kippu_contract.v1.staff import (
    StaffMemberChangeIn,
    StaffMemberIn,
    StaffMemberOut,
    StaffPasswordOut,
)


class StaffController(Controller):
    path = "/api/v1/staff"
    guards = [requires_role("manager")]

    @get("/")
    async def list_members(
        self, request: Request[StaffPrincipal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[StaffMemberOut]:
        return await staff_admin.list_staff(db_session, request.user.facility_id)

    @post("/", status_code=HTTP_201_CREATED)
    async def add(
        self,
        request: Request[StaffPrincipal, Any, Any],
        data: JSONBody[StaffMemberIn],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffPasswordOut:
        return await staff_admin.add_member(db_session, request.user, data)

    @patch("/{staff_id:int}")
    async def change(
        self,
        request: Request[StaffPrincipal, Any, Any],
        staff_id: FromPath[int],
        data: JSONBody[StaffMemberChangeIn],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffMemberOut:
        return await staff_admin.change_member(db_session, request.user, staff_id, data)

    @post("/{staff_id:int}/reset-password", status_code=HTTP_200_OK)
    async def reset_password(
        self,
        request: Request[StaffPrincipal, Any, Any],
        staff_id: FromPath[int],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffPasswordOut:
        """A one-time password, shown once; the member's tokens end."""
        return await staff_admin.reset_password(db_session, request.user, staff_id)
