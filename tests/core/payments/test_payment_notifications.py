"""Webhooks through the real app: verified, applied once, forged ones refused.

The storm test sends hundreds of provider notifications for a few payments, duplicated,
reordered and partly forged, through each provider's webhook route, and checks that each
paid payment ends with exactly one paid order and its tickets issued once, and that no
forged notification changed anything. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Order, Payment, PaymentEvent, Ticket
from core_service.payments.provider import PaymentStart
from core_service.payments.registry import instantiate_provider
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_plugins.paypay_payments import PayPayProvider
from kippu_plugins.stripe_payments import StripeProvider
from tests.support.fakes import LoopbackServer
from tests.support.fakes import paidy as fake_paidy
from tests.support.fakes import paypay as fake_paypay
from tests.support.fakes import stripe as fake_stripe
from tests.support.payments import PendingPayment, enable_provider, pending_payments
from tests.support.web import query

PLUGINS = ("stripe_payments", "paypay_payments", "paidy_payments")


def host_with_payment_plugins() -> PluginHost:
    """The app's plugin host, with the provider plugins registered if not yet installed."""
    probe = build_plugin_manager()
    missing = [
        (n, importlib.import_module(f"plugins.{n}")) for n in PLUGINS if probe.get_plugin(n) is None
    ]
    return PluginHost(build_plugin_manager(extra=missing))


class Fakes:
    def __init__(self) -> None:
        self.stripe, self.paypay, self.paidy = (
            fake_stripe.FakeStripe(),
            fake_paypay.FakePayPay(),
            fake_paidy.FakePaidy(),
        )


@pytest.fixture
def fakes() -> Iterator[tuple[Fakes, dict[str, str]]]:
    f = Fakes()
    with LoopbackServer(f.stripe) as s, LoopbackServer(f.paypay) as p, LoopbackServer(f.paidy) as d:
        yield f, {"stripe": s.url, "paypay": p.url, "paidy": d.url}
    assert f.stripe.violations == f.paypay.violations == f.paidy.violations == []


async def _setup(settings: Settings, demo: DemoFacility, urls: dict[str, str]) -> None:
    await enable_provider(
        settings,
        demo,
        "stripe_payments",
        "stripe",
        {
            "secret_key": fake_stripe.SECRET_KEY,
            "publishable_key": fake_stripe.PUBLISHABLE_KEY,
            "webhook_secret": fake_stripe.WEBHOOK_SECRET,
            "api_base": urls["stripe"],
        },
    )
    await enable_provider(
        settings,
        demo,
        "paypay_payments",
        "paypay",
        {
            "api_key": fake_paypay.API_KEY,
            "api_secret": fake_paypay.API_SECRET,
            "merchant_id": fake_paypay.MERCHANT_ID,
            "api_base": urls["paypay"],
        },
    )
    await enable_provider(
        settings,
        demo,
        "paidy_payments",
        "paidy",
        {
            "secret_key": fake_paidy.SECRET_KEY,
            "public_key": fake_paidy.PUBLIC_KEY,
            "api_base": urls["paidy"],
        },
    )


async def _start(
    settings: Settings,
    demo: DemoFacility,
    cls: type[Any],
    method: str,
    pending: list[PendingPayment],
) -> list[str]:
    """Start each payment with the provider and store its reference, as checkout does."""
    engine = make_engine(settings)
    refs = []
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(
                session, host_with_payment_plugins(), facility_id=demo.facility_id
            )
            provider = instantiate_provider(tenant, cls, settings)
            for p in pending:
                action = await provider.start(
                    PaymentStart(
                        payment_id=p.payment_id,
                        order_code=p.order_code,
                        amount=p.amount,
                        method=method,
                        locale="ja",
                        return_url="http://127.0.0.1:8000/back",
                        access_key="k",
                        customer_email="visitor@example.com",
                    )
                )
                refs.append(action.provider_ref)
                await session.execute(
                    sa.update(Payment)
                    .where(Payment.id == p.payment_id)
                    .values(provider_ref=action.provider_ref)
                )
            await session.commit()
    finally:
        await engine.dispose()
    return refs


async def _rows(settings: Settings, payment_id: int) -> tuple[str, str, int, int]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            payment = await session.get(Payment, payment_id)
            assert payment is not None
            order = await session.get(Order, payment.order_id)
            assert order is not None
            tickets = await session.scalar(
                sa.select(sa.func.count()).select_from(Ticket).where(Ticket.order_id == order.id)
            )
            paid_events = await session.scalar(
                sa.select(sa.func.count())
                .select_from(PaymentEvent)
                .where(
                    PaymentEvent.payment_id == payment_id,
                    PaymentEvent.to_state == "paid",
                    PaymentEvent.from_state == "pending",
                )
            )
            return payment.state, order.status, int(tickets or 0), int(paid_events or 0)
    finally:
        await engine.dispose()


async def test_webhook_storm_pays_each_order_exactly_once(
    db_settings: Settings, demo: DemoFacility, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    f, urls = fakes
    await _setup(db_settings, demo, urls)
    stripe_p = await pending_payments(db_settings, demo, "stripe", "card", 3)
    paypay_p = await pending_payments(db_settings, demo, "paypay", "paypay", 3)
    paidy_p = await pending_payments(db_settings, demo, "paidy", "paidy", 2)
    s_refs = await _start(db_settings, demo, StripeProvider, "card", stripe_p)
    p_refs = await _start(db_settings, demo, PayPayProvider, "paypay", paypay_p)
    # Outcome at the providers: stripe 0,1 paid, 2 cancelled; paypay 0,1 paid, 2 unpaid;
    # paidy 0 authorised by the visitor, 1 never authorised (only forged notifications).
    f.stripe.succeed(s_refs[0])
    f.stripe.succeed(s_refs[1])
    f.stripe.intents[s_refs[2]]["status"] = "canceled"
    f.paypay.pay(p_refs[0])
    f.paypay.pay(p_refs[1])
    d_ref = f.paidy.authorize(
        paidy_p[0].amount,
        paidy_p[0].order_code,
        {"kippu_payment_id": str(paidy_p[0].payment_id), "kippu_facility": demo.slug},
    )

    slug = demo.slug
    genuine: list[tuple[str, bytes, dict[str, str]]] = []
    forged: list[tuple[str, bytes, dict[str, str]]] = []
    stripe_url, paypay_url, paidy_url = (
        f"/api/v1/payments/{p}/webhook/{slug}" for p in ("stripe", "paypay", "paidy")
    )
    for ref in s_refs[:2]:
        for kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            body, headers = fake_stripe.signed(f.stripe.event(ref, kind))
            genuine += [(stripe_url, body, headers)] * 15
    body, headers = fake_stripe.signed(f.stripe.event(s_refs[2], "payment_intent.canceled"))
    genuine += [(stripe_url, body, headers)] * 10
    unpaid = dict(f.stripe.event(s_refs[2], "payment_intent.succeeded"))
    unpaid["data"] = {
        "object": {
            **unpaid["data"]["object"],
            "status": "succeeded",
            "amount_received": stripe_p[2].amount,
        }
    }
    forged += [(stripe_url, *fake_stripe.signed(unpaid, secret="whsec_attacker"))] * 20
    forged += [(stripe_url, *fake_stripe.signed(unpaid, timestamp=int(time.time()) - 7200))] * 10
    forged += [(stripe_url, *fake_stripe.signed(unpaid)[:1], {"Stripe-Signature": "t=1,v1=00"})] * 5
    for ref in p_refs[:2]:
        genuine += [(paypay_url, f.paypay.notification(ref), {})] * 20
    genuine += [(paypay_url, f.paypay.notification(p_refs[2]), {})] * 15  # claims paid; is not
    forged += [(paypay_url, f.paypay.notification(f"kippu-{demo.facility_id}-999999"), {})] * 10
    forged += [(paypay_url, f.paypay.notification("kippu-0-1"), {})] * 10
    genuine += [
        (paidy_url, f.paidy.notification(d_ref, s), {})
        for s in ("authorize_success", "capture_success")
        for _ in range(12)
    ]
    forged += [(paidy_url, f.paidy.notification("pay_forgedPaymentId"), {})] * 20
    storm = [(item, True) for item in genuine] + [(item, False) for item in forged]
    random.Random(20261125).shuffle(storm)
    assert len(storm) > 200

    app = create_app(db_settings, plugin_host=host_with_payment_plugins(), background=False)
    async with AsyncTestClient(app=app) as client:
        for (url, body, headers), is_genuine in storm:
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == (200 if is_genuine else 400), response.text

    for p in (stripe_p[0], stripe_p[1], paypay_p[0], paypay_p[1], paidy_p[0]):
        assert await _rows(db_settings, p.payment_id) == ("paid", "paid", 1, 1)
    assert await _rows(db_settings, stripe_p[2].payment_id) == ("failed", "pending", 0, 0)
    assert await _rows(db_settings, paypay_p[2].payment_id) == ("pending", "pending", 0, 0)
    assert await _rows(db_settings, paidy_p[1].payment_id) == ("pending", "pending", 0, 0)
    assert len(f.paidy.payments[d_ref]["captures"]) == 1


async def test_webhook_is_refused_for_a_facility_without_the_plugin(
    db_settings: Settings, demo: DemoFacility
) -> None:
    app = create_app(db_settings, plugin_host=host_with_payment_plugins(), background=False)
    async with AsyncTestClient(app=app) as client:
        body, headers = fake_stripe.signed({"id": "evt_1", "type": "payment_intent.succeeded"})
        response = await client.post(
            f"/api/v1/payments/stripe/webhook/{demo.slug}", content=body, headers=headers
        )
    assert response.status_code == 404


async def test_paidy_checkout_callback_verifies_captures_and_confirms(
    db_settings: Settings, demo: DemoFacility, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    f, urls = fakes
    await _setup(db_settings, demo, urls)
    mine, other = await pending_payments(db_settings, demo, "paidy", "paidy", 2)
    paidy_id = f.paidy.authorize(
        mine.amount,
        mine.order_code,
        {"kippu_payment_id": str(mine.payment_id), "kippu_facility": demo.slug},
    )
    url = f"/api/v1/payments/paidy/authorized/{demo.slug}"
    app = create_app(db_settings, plugin_host=host_with_payment_plugins(), background=False)
    async with AsyncTestClient(app=app) as client:
        wrong_key = await client.post(
            f"{url}/{mine.payment_id}", json={"paidy_payment_id": paidy_id, "key": "nope"}
        )
        other_order = await client.post(
            f"{url}/{other.payment_id}",
            json={"paidy_payment_id": paidy_id, "key": other.access_key},
        )
        ok = await client.post(
            f"{url}/{mine.payment_id}", json={"paidy_payment_id": paidy_id, "key": mine.access_key}
        )
        again = await client.post(
            f"{url}/{mine.payment_id}", json={"paidy_payment_id": paidy_id, "key": mine.access_key}
        )
    assert (wrong_key.status_code, other_order.status_code) == (403, 422)
    assert ok.json()["outcome"] == "paid" and again.json()["outcome"] == "duplicate"
    assert await _rows(db_settings, mine.payment_id) == ("paid", "paid", 1, 1)
    assert await _rows(db_settings, other.payment_id) == ("pending", "pending", 0, 0)
    assert len(f.paidy.payments[paidy_id]["captures"]) == 1


async def test_paidy_notification_naming_another_order_is_refused_and_logged(
    db_settings: Settings,
    demo: DemoFacility,
    fakes: tuple[Fakes, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like the browser callback, a notification whose Paidy payment carries another
    order's ``order_ref`` pays nothing, even though it echoes our payment id."""
    f, urls = fakes
    await _setup(db_settings, demo, urls)
    mine, other = await pending_payments(db_settings, demo, "paidy", "paidy", 2)
    metadata = {"kippu_payment_id": str(mine.payment_id), "kippu_facility": demo.slug}
    foreign = f.paidy.authorize(mine.amount, other.order_code, metadata)
    genuine = f.paidy.authorize(mine.amount, mine.order_code, metadata)
    url = f"/api/v1/payments/paidy/webhook/{demo.slug}"
    app = create_app(db_settings, plugin_host=host_with_payment_plugins(), background=False)
    # The app's logging configuration keeps kippu's records from the root logger.
    logger = logging.getLogger("core_service.payments.notifications")
    logger.addHandler(caplog.handler)
    try:
        async with AsyncTestClient(app=app) as client:
            refused = await client.post(url, content=f.paidy.notification(foreign))
            assert await _rows(db_settings, mine.payment_id) == ("pending", "pending", 0, 0)
            accepted = await client.post(url, content=f.paidy.notification(genuine))
    finally:
        logger.removeHandler(caplog.handler)
    assert refused.status_code == 400 and refused.json()["code"] == "order_mismatch"
    assert f.paidy.payments[foreign]["captures"] == []  # never captured
    assert any("names order" in r.getMessage() for r in caplog.records)
    notes = await query(
        db_settings,
        sa.select(PaymentEvent.detail).where(PaymentEvent.payment_id == mine.payment_id),
    )
    (mismatch,) = [d for (d,) in notes if d.get("note") == "order_mismatch"]
    assert (mismatch["reported"], mismatch["expected"]) == (other.order_code, mine.order_code)
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "paid"
    assert await _rows(db_settings, mine.payment_id) == ("paid", "paid", 1, 1)
    assert await _rows(db_settings, other.payment_id) == ("pending", "pending", 0, 0)
