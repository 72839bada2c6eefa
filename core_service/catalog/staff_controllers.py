"""Staff API of the catalogue, under ``/api/v1/catalog`` (issue 17):

- ``GET /products`` (viewer and up), ``POST /products`` (manager),
  ``GET /products/{id}`` (viewer), ``PUT /products/{id}`` (manager; ``active: false``
  deactivates: products are never deleted);
- ``POST /products/{id}/prices``, ``PUT /prices/{id}``, ``DELETE /prices/{id}`` (manager);
- ``GET /products/{id}/capacities?from=&to=`` (viewer), ``PUT /products/{id}/capacities``
  (manager).

The rules are :mod:`.setup`, :mod:`.product_fields` and :mod:`.capacity_setup`; the
facility is always the caller's own (the ``tenant`` dependency), so another facility's
product or price is a 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog import capacity_setup, setup
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.tenancy import Tenant
from kippu_contract.v1.catalog import (
    CapacityIn,
    CapacityOut,
    PriceCategoryIn,
    PriceCategoryOut,
    ProductIn,
    ProductOut,
)

StaffRequest = Request[StaffPrincipal, Any, Any]
MANAGER = [requires_role("manager")]


class CatalogController(Controller):
    path = "/api/v1/catalog"
    guards = [requires_role("viewer")]

    @get("/products")
    async def list_products(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[ProductOut]:
        return await setup.list_products(db_session, tenant)

    @post("/products", guards=MANAGER, status_code=HTTP_201_CREATED)
    async def create_product(
        self,
        request: StaffRequest,
        data: JSONBody[ProductIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> ProductOut:
        return await setup.create_product(db_session, tenant, data, actor=request.user.email)

    @get("/products/{product_id:int}")
    async def read_product(
        self,
        product_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> ProductOut:
        return await setup.read_product(db_session, tenant, product_id)

    @put("/products/{product_id:int}", guards=MANAGER)
    async def replace_product(
        self,
        request: StaffRequest,
        product_id: FromPath[int],
        data: JSONBody[ProductIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> ProductOut:
        return await setup.replace_product(
            db_session, tenant, product_id, data, actor=request.user.email
        )

    @post("/products/{product_id:int}/prices", guards=MANAGER, status_code=HTTP_201_CREATED)
    async def add_price(
        self,
        request: StaffRequest,
        product_id: FromPath[int],
        data: JSONBody[PriceCategoryIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> PriceCategoryOut:
        return await setup.add_price(db_session, tenant, product_id, data, actor=request.user.email)

    @put("/prices/{price_id:int}", guards=MANAGER)
    async def change_price(
        self,
        request: StaffRequest,
        price_id: FromPath[int],
        data: JSONBody[PriceCategoryIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> PriceCategoryOut:
        return await setup.change_price(
            db_session, tenant, price_id, data, actor=request.user.email
        )

    @delete("/prices/{price_id:int}", guards=MANAGER, status_code=HTTP_204_NO_CONTENT)
    async def delete_price(
        self,
        request: StaffRequest,
        price_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await setup.delete_price(db_session, tenant, price_id, actor=request.user.email)

    @get("/products/{product_id:int}/capacities")
    async def capacities(
        self,
        product_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        first: Annotated[dt.date, QueryParameter(name="from")],
        last: Annotated[dt.date, QueryParameter(name="to")],
    ) -> list[CapacityOut]:
        return await capacity_setup.capacities(db_session, tenant, product_id, first, last)

    @put("/products/{product_id:int}/capacities", guards=MANAGER)
    async def set_capacities(
        self,
        request: StaffRequest,
        product_id: FromPath[int],
        data: JSONBody[CapacityIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> list[CapacityOut]:
        return await capacity_setup.set_capacities(
            db_session, tenant, product_id, data, actor=request.user.email
        )
