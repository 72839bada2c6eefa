"""Staff login, logout and "who am I"; they answer through :mod:`.staff_login`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.schemas import LoginIn, LoginOut
from core_service.accounts.staff_login import log_in, log_out, who_am_i
from core_service.platform.client_address import client_address
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.security import Signer


class AuthController(Controller):
    path = "/api/v1/auth"

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginIn],
        db_session: NamedDependency[AsyncSession],
        signer: NamedDependency[Signer],
    ) -> LoginOut:
        return await log_in(db_session, signer, data, client_address(request))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, guards=[requires_role("viewer")])
    async def logout(
        self,
        request: Request[StaffPrincipal, Any, Any],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """End every token of the logged-in staff member, this one included."""
        await log_out(db_session, request.user)

    @get("/me", guards=[requires_role("viewer")])
    async def me(
        self,
        request: Request[StaffPrincipal, Any, Any],
        db_session: NamedDependency[AsyncSession],
    ) -> LoginOut:
        return await who_am_i(db_session, request.user)
