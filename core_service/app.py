"""``create_app(settings)``: builds the Litestar application of the core service.

It wires the database, the plugin host, authentication, the routes of every domain and
the background loop that expires unpaid holds, delivers the mail outbox and the webhooks
and exports to Parquet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from core_service.accounts.auth import BearerAuthMiddleware
from core_service.accounts.controllers import AuthController
from core_service.aftersales.controllers import CancellationController
from core_service.catalog.controllers import PUBLIC_AVAILABILITY_HANDLERS
from core_service.catalog.reservations import sweep as sweep_reservations
from core_service.checkin.controllers import GateController, facility_public_key
from core_service.facilities.controllers import FacilitySettingsController
from core_service.kiosks.controllers import KioskController, enrol_kiosk
from core_service.kiosks.staff_controllers import DeviceController
from core_service.mailing.controllers import UNSUBSCRIBE_HANDLERS, MailingController
from core_service.mailing.outbox import deliver_due as deliver_due_mail
from core_service.orders.expiry import expire_holds
from core_service.orders.lookup_controllers import OrderLookupController
from core_service.orders.pass_export_controllers import PassExportController
from core_service.payments.credentials_controllers import PaymentCredentialsController
from core_service.payments.reconciliation import reconcile_due
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.dependencies import (
    provide_db_session,
    provide_plugin_host,
    provide_principal_tenant,
    provide_settings,
    provide_signer,
)
from core_service.platform.errors import exception_handlers
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenant_cache import TenantCache
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.reports.controllers import ReportController
from core_service.storefront.controllers import WEB_ROUTE_HANDLERS
from core_service.storefront.rendering import render_error_page, template_config
from core_service.webhooks.controllers import WebhookController
from core_service.webhooks.delivery import deliver_due as deliver_due_webhooks

log = logging.getLogger(__name__)

BACKGROUND_INTERVAL_SECONDS = 2.0


#: Payment reconciliation asks providers over the network: every few minutes is enough.
RECONCILE_INTERVAL_SECONDS = 300.0

#: How long a round waits for its export (an incremental one takes well under a second);
#: a longer one, such as a first export of a large database, carries on beside the rounds.
EXPORT_WAIT_SECONDS = 10.0


async def run_background_once(state: State) -> None:
    """One round of background work: expire holds, deliver due mail and webhooks, (at a
    slower cadence) reconcile payments with their providers, and export to Parquet every
    ``settings.export_interval_seconds``."""
    async with state.sessionmaker() as session:
        await expire_holds(session)
    await sweep_reservations(state.engine)
    await deliver_due_mail(state.sessionmaker, state.settings)
    # Until the job queue (``kippu worker``) runs it: every round, in every worker.
    try:
        await deliver_due_webhooks(state.sessionmaker, state.settings)
    except Exception:  # an endpoint's or the database's trouble must not stop the round
        log.exception("webhook delivery failed")
    try:
        await reconcile_due(state, RECONCILE_INTERVAL_SECONDS)
    except Exception:  # a provider outage must not stop holds and mail
        log.exception("payment reconciliation failed")
    if state.settings.export_interval_seconds > 0:
        # Imported here: the exporter loads DuckDB and Arrow (~60 MB), which a core
        # that does not export need not carry.
        from core_service.exports.background import export_due

        await export_due(state, EXPORT_WAIT_SECONDS)


async def _background_loop(state: State) -> None:
    while True:
        try:
            await run_background_once(state)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("background round failed")
        await asyncio.sleep(BACKGROUND_INTERVAL_SECONDS)


async def _finish_background_export(state: State) -> None:
    """Let a running export end before the engine goes (its writes run in threads)."""
    if "background_export" in state:
        from core_service.exports.background import finish_export

        await finish_export(state)


def create_app(
    settings: Settings | None = None,
    *,
    plugin_host: PluginHost | None = None,
    background: bool = True,
) -> Litestar:
    settings = settings or Settings.from_env()
    host = plugin_host or PluginHost(build_plugin_manager())

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.tenant_cache = TenantCache(app.state.sessionmaker, host)
        task = asyncio.create_task(_background_loop(app.state)) if background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _finish_background_export(app.state)
            await engine.dispose()

    handlers: list[Any] = [
        AuthController,
        KioskController,
        DeviceController,
        enrol_kiosk,
        GateController,
        facility_public_key,
        *PUBLIC_AVAILABILITY_HANDLERS,
        ReportController,
        MailingController,
        *UNSUBSCRIBE_HANDLERS,
        OrderLookupController,
        CancellationController,
        PassExportController,
        FacilitySettingsController,
        PaymentCredentialsController,
        WebhookController,
        *WEB_ROUTE_HANDLERS,
        *host.route_handlers(),
    ]
    return Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        state=State(
            {"settings": settings, "plugin_host": host, "signer": Signer(settings.secret_key)}
        ),
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "plugin_host": Provide(provide_plugin_host, sync_to_thread=False),
            "signer": Provide(provide_signer, sync_to_thread=False),
            "tenant": Provide(provide_principal_tenant),
        },
        middleware=[DefineMiddleware(BearerAuthMiddleware)],
        exception_handlers=exception_handlers(render_error_page),
        template_config=template_config(),
        debug=settings.debug,
    )
