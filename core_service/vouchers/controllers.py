"""``/api/v1/vouchers``: the facility's discount codes (managers and owners).

- ``GET /`` lists them, newest first; ``POST /`` creates one;
- ``PATCH /{id}`` changes its value, products, limit, validity, description or switches
  it off. The rules are :mod:`.service`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.tenancy import Tenant
from core_service.vouchers import service
from core_service.vouchers.schemas import VoucherChangeIn, VoucherIn, VoucherOut

StaffRequest = Request[StaffPrincipal, Any, Any]


class VoucherController(Controller):
    path = "/api/v1/vouchers"
    guards = [requires_role("manager")]

    @get("/")
    async def list_vouchers(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[VoucherOut]:
        return await service.vouchers_of(db_session, tenant)

    @post("/", status_code=HTTP_201_CREATED)
    async def create_voucher(
        self,
        request: StaffRequest,
        data: JSONBody[VoucherIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> VoucherOut:
        return await service.create_voucher(db_session, tenant, data, actor=request.user.email)

    @patch("/{voucher_id:int}")
    async def change_voucher(
        self,
        request: StaffRequest,
        voucher_id: FromPath[int],
        data: JSONBody[VoucherChangeIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> VoucherOut:
        return await service.change_voucher(
            db_session, tenant, voucher_id, data, actor=request.user.email
        )
