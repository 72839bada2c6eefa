"""``GET /api/v1/orders/lookup?q=``: find orders by code or customer e-mail (F21).

Every staff role may look up orders; the search and the masking of personal data by role
are :func:`core_service.orders.lookup.lookup_orders`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.orders.lookup import lookup_orders
from core_service.orders.schemas import LookupOrderOut
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.tenancy import Tenant


class OrderLookupController(Controller):
    path = "/api/v1/orders"
    guards = [requires_role("viewer")]

    @get("/lookup")
    async def lookup(
        self,
        request: Request[StaffPrincipal, Any, Any],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        q: Annotated[str, QueryParameter(min_length=3, max_length=254)],
    ) -> list[LookupOrderOut]:
        return await lookup_orders(db_session, tenant, q, role=request.user.role)
