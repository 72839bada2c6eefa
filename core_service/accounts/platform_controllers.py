"""The platform operator's API: ``/api/v1/platform/login``, ``logout`` and ``facilities``.

Deployment-level routes: the operator is of no facility, so there is no tenant here; the
``requires_operator`` guard admits operator tokens only (never a staff or device token).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.operators import (
    create_facility_with_owner,
    list_facilities,
    log_in_operator,
    log_out_operator,
)
from core_service.platform.client_address import client_address
from core_service.platform.guards import requires_operator
from core_service.platform.principals import OperatorPrincipal
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from kippu_contract.v1.platform import (
    NewFacilityOut,
    OperatorLoginIn,
    OperatorLoginOut,
    PlatformFacilityIn,
    PlatformFacilityOut,
)


class PlatformController(Controller):
    path = "/api/v1/platform"

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OperatorLoginIn],
        db_session: NamedDependency[AsyncSession],
        signer: NamedDependency[Signer],
    ) -> OperatorLoginOut:
        return await log_in_operator(db_session, signer, data, client_address(request))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, guards=[requires_operator()])
    async def logout(
        self,
        request: Request[OperatorPrincipal, Any, Any],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await log_out_operator(db_session, request.user)

    @get("/facilities", guards=[requires_operator()])
    async def facilities(
        self, db_session: NamedDependency[AsyncSession]
    ) -> list[PlatformFacilityOut]:
        return await list_facilities(db_session)

    @post("/facilities", guards=[requires_operator()], status_code=HTTP_201_CREATED)
    async def create(
        self,
        request: Request[OperatorPrincipal, Any, Any],
        data: JSONBody[PlatformFacilityIn],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> NewFacilityOut:
        return await create_facility_with_owner(
            db_session, settings.secret_key, data, actor=request.user.email
        )
