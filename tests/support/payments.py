"""Helpers for the payment tests: a facility context, fakes on loopback, pending web
orders with a payment attempt, and a shop with every payment plugin and an app client
for paying through the web checkout."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.facilities.setup import set_plugin
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments.credentials import store_credentials
from core_service.payments.provider import PaymentStart
from core_service.payments.transitions import create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.plugins.values import FacilityContext
from tests.support.csrf import FormClient
from tests.support.fakes import LoopbackServer
from tests.support.fakes import paidy as fake_paidy
from tests.support.fakes import paypay as fake_paypay
from tests.support.fakes import stripe as fake_stripe
from tests.support.web import BROWSER_HEADERS, Shop, build_shop, checkout_form, product_url

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
    return await pending_orders(settings, demo, count, attempt=(provider, method))


async def pending_orders(
    settings: Settings, demo: DemoFacility, count: int, *, attempt: tuple[str, str] | None = None
) -> list[PendingPayment]:
    """``count`` pending web orders of one adult ticket each, with a payment attempt of ``attempt`` (provider, method) if given, else none
    (``payment_id`` 0)."""
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
                payment_id = 0
                if attempt is not None:
                    payment = await create_payment(session, tenant, order, *attempt)
                    payment_id = payment.id
                made.append(PendingPayment(order.code, payment_id, order.total, order.access_key))
    finally:
        await engine.dispose()
    return made


async def store_provider_credentials(
    settings: Settings, facility_id: int, provider: str, credentials: dict[str, str]
) -> None:
    """Store a provider's credentials for a facility, encrypted, as a manager would."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            await store_credentials(
                session, facility_id, provider, credentials, settings.secret_key
            )
            await session.commit()
    finally:
        await engine.dispose()


PLUGINS = (
    "consent",
    "availability",
    "demo_payments",
    "stripe_payments",
    "paypay_payments",
    "paidy_payments",
)


class Fakes:
    def __init__(self) -> None:
        self.stripe = fake_stripe.FakeStripe()
        self.paypay = fake_paypay.FakePayPay()
        self.paidy = fake_paidy.FakePaidy()


@pytest.fixture
def fakes() -> Iterator[tuple[Fakes, dict[str, str]]]:
    f = Fakes()
    with LoopbackServer(f.stripe) as s, LoopbackServer(f.paypay) as p, LoopbackServer(f.paidy) as d:
        yield f, {"stripe": s.url, "paypay": p.url, "paidy": d.url}
    assert f.stripe.violations == f.paypay.violations == f.paidy.violations == []


async def open_shop(settings: Settings, urls: dict[str, str], **shop_options: Any) -> Shop:
    """A shop with every payment plugin enabled and the fakes' credentials stored."""
    shop = await build_shop(settings, plugins=PLUGINS, **shop_options)
    credentials = {
        "stripe": {
            "secret_key": fake_stripe.SECRET_KEY,
            "publishable_key": fake_stripe.PUBLISHABLE_KEY,
            "webhook_secret": fake_stripe.WEBHOOK_SECRET,
            "api_base": urls["stripe"],
        },
        "paypay": {
            "api_key": fake_paypay.API_KEY,
            "api_secret": fake_paypay.API_SECRET,
            "merchant_id": fake_paypay.MERCHANT_ID,
            "api_base": urls["paypay"],
        },
        "paidy": {
            "secret_key": fake_paidy.SECRET_KEY,
            "public_key": fake_paidy.PUBLIC_KEY,
            "api_base": urls["paidy"],
        },
    }
    for provider, values in credentials.items():
        await store_provider_credentials(settings, shop.facility_id, provider, values)
    return shop


@pytest.fixture
async def shop_client(
    db_settings: Settings, fakes: tuple[Fakes, dict[str, str]]
) -> AsyncIterator[tuple[AsyncTestClient[Any], Shop, Fakes, Settings]]:
    f, urls = fakes
    shop = await open_shop(db_settings, urls)
    app = create_app(db_settings, background=False)
    async with FormClient(app, base_url="http://shop.test") as client:
        client.headers.update(BROWSER_HEADERS)
        client.follow_redirects = False
        yield client, shop, f, db_settings


def local(url: str) -> str:
    """The path and query of an absolute URL of the app."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def first(pattern: str, html: str) -> str:
    found = re.findall(pattern, html)
    assert found, f"{pattern!r} not in page: {html[-2500:]}"
    return unescape(found[0])


async def checkout(client: AsyncTestClient[Any], shop: Shop, choice: str) -> str:
    response = await client.post(product_url(shop), data=checkout_form(shop, payment=choice))
    assert response.status_code == 303, response.text[-2000:]
    return local(response.headers["location"])
