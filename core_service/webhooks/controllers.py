"""Staff API for webhooks (owners and managers), under ``/api/v1/webhooks``:

- ``GET /endpoints``, ``POST /endpoints`` (answers the secret, this once),
  ``PATCH /endpoints/{id}`` (url, events, active, description), ``DELETE /endpoints/{id}``,
  ``POST /endpoints/{id}/rotate-secret`` (answers the new secret);
- ``GET /deliveries?before=&limit=&endpoint_id=&status=``: the delivery log, newest first.

The rules are :mod:`.endpoints` and :mod:`.delivery_log`; the facility is always the
caller's own (the ``tenant`` dependency).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.webhooks import delivery_log, endpoints
from core_service.webhooks.schemas import (
    WebhookDeliveryPageOut,
    WebhookEndpointChangeIn,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookSecretOut,
)

StaffRequest = Request[StaffPrincipal, Any, Any]


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    guards = [requires_role("manager")]

    @get("/endpoints")
    async def list_endpoints(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[WebhookEndpointOut]:
        return await endpoints.endpoints(db_session, tenant)

    @post("/endpoints", status_code=HTTP_201_CREATED)
    async def create_endpoint(
        self,
        request: StaffRequest,
        data: JSONBody[WebhookEndpointIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> WebhookSecretOut:
        return await endpoints.create_endpoint(
            db_session, tenant, data, secret_key=settings.secret_key, actor=request.user.email
        )

    @patch("/endpoints/{endpoint_id:int}")
    async def change_endpoint(
        self,
        request: StaffRequest,
        endpoint_id: FromPath[int],
        data: JSONBody[WebhookEndpointChangeIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> WebhookEndpointOut:
        return await endpoints.change_endpoint(
            db_session, tenant, endpoint_id, data, actor=request.user.email
        )

    @delete("/endpoints/{endpoint_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_endpoint(
        self,
        request: StaffRequest,
        endpoint_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await endpoints.delete_endpoint(db_session, tenant, endpoint_id, actor=request.user.email)

    @post("/endpoints/{endpoint_id:int}/rotate-secret", status_code=HTTP_200_OK)
    async def rotate_secret(
        self,
        request: StaffRequest,
        endpoint_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> WebhookSecretOut:
        return await endpoints.rotate_secret(
            db_session,
            tenant,
            endpoint_id,
            secret_key=settings.secret_key,
            actor=request.user.email,
        )

    @get("/deliveries")
    async def deliveries(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        before: FromQuery[int | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=delivery_log.MAX_PAGE)] = (
            delivery_log.DEFAULT_PAGE
        ),
        endpoint_id: FromQuery[int | None] = None,
        status: FromQuery[str | None] = None,
    ) -> WebhookDeliveryPageOut:
        return await delivery_log.deliveries_page(
            db_session, tenant, before=before, limit=limit, endpoint_id=endpoint_id, status=status
        )
