"""Request-scoped dependencies shared by every domain's controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from .accounts.principals import DevicePrincipal, StaffPrincipal
from .errors import Unauthorized
from .plugin_host import PluginHost
from .security import Signer
from .settings import Settings
from .tenancy import Tenant, load_tenant


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessionmaker() as session:
        yield session


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_plugin_host(state: State) -> PluginHost:
    return state.plugin_host


def provide_signer(state: State) -> Signer:
    return state.signer


async def provide_principal_tenant(
    request: Request[Any, Any, Any], db_session: AsyncSession, plugin_host: PluginHost
) -> Tenant:
    """The facility of the authenticated staff member or device (the tenant check)."""
    user = request.user
    if not isinstance(user, StaffPrincipal | DevicePrincipal):
        raise Unauthorized("Authentication required.", "認証が必要です。")
    return await load_tenant(db_session, plugin_host, facility_id=user.facility_id)
