"""Helpers for the payment provider tests: a facility context, fakes on loopback, and
pending web orders with a payment attempt in the test database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from core_service.database import make_engine, make_sessionmaker
from core_service.demo_data import DemoFacility
from core_service.facility_setup import set_plugin
from core_service.payments.credentials import store_credentials
from core_service.payments.provider import PaymentStart
from core_service.plugin_api import FacilityContext
from core_service.plugin_host import PluginHost, build_plugin_manager
from core_service.sales.requests import CheckoutRequest, LineRequest
from core_service.sales.service import create_payment, place_order
from core_service.settings import Settings
from core_service.tenancy import load_tenant

from .fakes import LoopbackServer

HOST = PluginHost(build_plugin_manager())
FACILITY = FacilityContext(
    id=7, slug="test-park", name_ja="テストパーク", name_en="Test Park", timezone="Asia/Tokyo"
)


@contextmanager
def serving(app: object) -> Iterator[str]:
    with LoopbackServer(app) as server:
        yield server.url


def start_request(
    payment_id: int = 41, amount: int = 3800, method: str = "card", order_code: str = "ABCDEFGH23"
) -> PaymentStart:
    return PaymentStart(
        payment_id=payment_id,
        order_code=order_code,
        amount=amount,
        method=method,
        locale="ja",
        return_url="http://127.0.0.1:8000/s/test-park/orders/ABCDEFGH23?key=k",
        access_key="k",
        customer_email="visitor@example.com",
        customer_name="山田 太郎",
    )


@pytest.fixture
def fast_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client timeout well below the fakes' scripted stall, and no back-off pauses."""
    import core_service.payments.http as http

    monkeypatch.setattr(http, "DEFAULT_TIMEOUT", 0.5)
    monkeypatch.setattr(http, "RETRY_BACKOFF", 0.0)


@dataclass(frozen=True, slots=True)
class PendingPayment:
    order_code: str
    payment_id: int
    amount: int
    access_key: str = ""


async def enable_provider(
    settings: Settings, demo: DemoFacility, plugin: str, provider: str, credentials: dict[str, str]
) -> None:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            await set_plugin(session, demo.facility_id, plugin)
            await store_credentials(
                session, demo.facility_id, provider, credentials, settings.secret_key
            )
            await session.commit()
    finally:
        await engine.dispose()


async def pending_payments(
    settings: Settings, demo: DemoFacility, provider: str, method: str, count: int
) -> list[PendingPayment]:
    """``count`` pending web orders of one adult ticket each, with a payment attempt."""
    engine = make_engine(settings)
    visit = dt.date.today() + dt.timedelta(days=3)
    made = []
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            for _ in range(count):
                order, _ = await place_order(
                    session,
                    tenant,
                    CheckoutRequest(
                        channel="web",
                        lines=[LineRequest(demo.adult_category_id, 1, visit)],
                        answers={"consent_waiver": True},
                        customer_email="visitor@example.com",
                    ),
                    hold_minutes=15,
                )
                payment = await create_payment(session, tenant, order, provider, method)
                made.append(
                    PendingPayment(order.code, payment.id, payment.amount, order.access_key)
                )
    finally:
        await engine.dispose()
    return made
