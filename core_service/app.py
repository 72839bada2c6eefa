"""``create_app(settings)``: builds the Litestar application of the core service.

It wires the database, the plugin host, authentication and the routes of every domain.
With the in-process job runner (the SQLite embedded default) it also runs the periodic
background jobs (:mod:`core_service.jobs`); with the job queue (PostgreSQL) a web process
runs none of them: ``kippu worker`` processes do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from core_service.accounts.auth import BearerAuthMiddleware
from core_service.accounts.controllers import AuthController
from core_service.accounts.platform_controllers import PlatformController
from core_service.accounts.platform_pages import PLATFORM_PAGE_HANDLERS
from core_service.accounts.staff_controllers import StaffController
from core_service.aftersales.controllers import CancellationController
from core_service.billing.controllers import BillingController
from core_service.catalog.controllers import PUBLIC_AVAILABILITY_HANDLERS
from core_service.catalog.staff_controllers import CatalogController
from core_service.checkin.controllers import GateController, facility_public_key
from core_service.checkin.offline_controllers import GateConflictController, OfflineGateController
from core_service.checkin.scanner import SCANNER_HANDLERS
from core_service.facilities.controllers import AuditController, FacilitySettingsController
from core_service.jobs.inprocess import InProcessRunner
from core_service.jobs.resources import JobResources
from core_service.kiosks.controllers import KioskController, enrol_kiosk
from core_service.kiosks.staff_controllers import DeviceController
from core_service.mailing.controllers import UNSUBSCRIBE_HANDLERS, MailingController
from core_service.orders.lookup_controllers import OrderLookupController
from core_service.orders.pass_export_controllers import PassExportController
from core_service.payments.credentials_controllers import PaymentCredentialsController
from core_service.platform.csrf import csrf_config
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
from core_service.platform.security_headers import security_headers_hook
from core_service.platform.settings import Settings
from core_service.platform.tenant_cache import TenantCache
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.reports.controllers import ReportController
from core_service.storefront.controllers import WEB_ROUTE_HANDLERS
from core_service.storefront.rendering import render_error_page, template_config
from core_service.vouchers.controllers import VoucherController
from core_service.webhooks.controllers import WebhookController


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
        runner = None
        if background and settings.job_runner == "inprocess":
            runner = InProcessRunner(JobResources.from_state(app.state))
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            await engine.dispose()

    handlers: list[Any] = [
        AuthController,
        PlatformController,
        *PLATFORM_PAGE_HANDLERS,
        StaffController,
        AuditController,
        KioskController,
        DeviceController,
        enrol_kiosk,
        GateController,
        facility_public_key,
        OfflineGateController,
        GateConflictController,
        *SCANNER_HANDLERS,
        *PUBLIC_AVAILABILITY_HANDLERS,
        ReportController,
        MailingController,
        *UNSUBSCRIBE_HANDLERS,
        OrderLookupController,
        CancellationController,
        PassExportController,
        FacilitySettingsController,
        CatalogController,
        PaymentCredentialsController,
        WebhookController,
        BillingController,
        VoucherController,
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
        csrf_config=csrf_config(settings),
        before_send=[security_headers_hook(served_over_tls=settings.served_over_tls)],
        exception_handlers=exception_handlers(render_error_page),
        template_config=template_config(),
        debug=settings.debug,
    )
