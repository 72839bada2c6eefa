"""``/api/v1/facility/payment-credentials``: a facility enters its payment provider keys.

The checks, the sealed store and the audit entry are
:mod:`core_service.payments.credentials_entry`; the keys are never shown back in full.

- ``GET``: managers and owners see which providers have credentials, masked.
- ``PUT /{provider}``: owners only. Replacing the keys redirects where the facility's money
  goes and changes the contract the facility is bound by, which is the owner's decision;
  managers run the facility's settings but cannot change this.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.payments.credentials_entry import credentials_overview, enter_credentials
from core_service.payments.schemas import PaymentCredentialsOut, ProviderCredentialsOut
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost


class PaymentCredentialsController(Controller):
    path = "/api/v1/facility/payment-credentials"
    guards = [requires_role("manager")]

    @get("/")
    async def read(
        self, tenant: NamedDependency[Tenant], plugin_host: NamedDependency[PluginHost]
    ) -> PaymentCredentialsOut:
        return credentials_overview(tenant, plugin_host)

    @put("/{provider:str}", guards=[requires_role("owner")])
    async def store(
        self,
        request: Request[StaffPrincipal, Any, Any],
        provider: FromPath[str],
        data: JSONBody[dict[str, Any]],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
        settings: NamedDependency[Settings],
    ) -> ProviderCredentialsOut:
        return await enter_credentials(
            db_session,
            tenant,
            plugin_host,
            provider,
            data,
            secret_key=settings.secret_key,
            actor=request.user.email,
        )
