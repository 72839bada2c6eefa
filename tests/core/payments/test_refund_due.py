"""Money that pays nothing: the payment becomes refund_due, from each of its causes,
through the real paths (Stripe's webhook through the app, the return-page confirmation),
and reconciliation gives each one back exactly once and reports it.

The causes: paid after the hold expired and the places were sold; paid when another
attempt had paid the order; paid after the attempt was given up. SQLite and PostgreSQL,
against the Stripe fake.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Order, Payment, PaymentEvent, Ticket, utcnow
from core_service.orders.expiry import expire_holds
from core_service.payments import states
from core_service.payments.provider import PaymentStart
from core_service.payments.registry import build_provider
from core_service.payments.service import merge_provider_data
from core_service.payments.transitions import (
    confirm_payment,
    fail_payment,
    payment_outcome,
)
from core_service.platform import urls
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from kippu_contract.states import OrderStatus, PaymentState
from tests.core.payments.test_reconciliation import run
from tests.support.fakes import stripe as fake_stripe
from tests.support.payments import HOST, Fakes, checkout, fakes, open_shop, shop_client
from tests.support.web import Shop, app_client, checkout_form, product_url, query

__all__ = ["fakes", "shop_client"]  # fixtures, used by name

Client = tuple[AsyncTestClient[Any], Shop, Fakes, Settings]
Cause = states.RefundDueCause


async def notify_paid(client: AsyncTestClient[Any], shop: Shop, f: Fakes, intent_id: str) -> str:
    """Stripe's payment_intent.succeeded webhook for ``intent_id``; kippu's outcome."""
    return await notify(client, shop, f, intent_id, "payment_intent.succeeded")


async def notify(
    client: AsyncTestClient[Any], shop: Shop, f: Fakes, intent_id: str, event_type: str
) -> str:
    """Stripe's signed ``event_type`` webhook for ``intent_id``; kippu's outcome."""
    body, headers = fake_stripe.signed(f.stripe.event(intent_id, event_type))
    hook = await client.post(
        f"/api/v1/payments/stripe/webhook/{shop.slug}", content=body, headers=headers
    )
    assert hook.status_code == 200, hook.text
    outcome: str = hook.json()["outcome"]
    return outcome


async def payments(settings: Settings) -> list[tuple[str, str, str]]:
    """(provider reference, payment state, order status) of every payment, in id order."""
    rows = await query(
        settings,
        sa.select(Payment.provider_ref, Payment.state, Order.status)
        .join(Order, Order.id == Payment.order_id)
        .order_by(Payment.id),
    )
    return [(ref, state, status) for ref, state, status in rows]


async def causes(settings: Settings) -> dict[str, str]:
    """The recorded refund_due cause of every payment that has one, by reference."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            found = {}
            for payment in await session.scalars(sa.select(Payment).order_by(Payment.id)):
                cause = await states.refund_due_cause(session, payment.facility_id, payment.id)
                if cause:
                    found[payment.provider_ref] = cause
            return found
    finally:
        await engine.dispose()


async def event_count(settings: Settings) -> int:
    return (await query(settings, sa.select(sa.func.count()).select_from(PaymentEvent)))[0][0]


async def second_stripe_attempt(settings: Settings, shop: Shop) -> str:
    """Another pending card attempt for the shop's one order, which another attempt has
    paid, started at Stripe; its PaymentIntent id. Two racing payment starts left such
    pairs before the database kept one pending attempt per order (migration 0012), so
    the row is written as they left it, past ``open_payment``'s refusal."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=shop.facility_id)
            order = await session.scalar(sa.select(Order))
            assert order is not None and order.status == OrderStatus.PAID
            payment = Payment(
                facility_id=tenant.id,
                order_id=order.id,
                provider="stripe",
                method="card",
                state=PaymentState.PENDING,
                amount=order.total,
                idempotency_key="left-by-a-race",
            )
            session.add(payment)
            await session.flush()
            action = await build_provider(tenant, "stripe", settings).start(
                PaymentStart(
                    payment_id=payment.id,
                    order_code=order.code,
                    amount=payment.amount,
                    method="card",
                    locale="ja",
                    return_url="http://shop.test/back",
                    access_key=order.access_key,
                )
            )
            await merge_provider_data(session, payment.id, {}, provider_ref=action.provider_ref)
            await session.commit()
            return action.provider_ref
    finally:
        await engine.dispose()


async def paid_twice(
    client: AsyncTestClient[Any], shop: Shop, f: Fakes, settings: Settings
) -> tuple[str, str]:
    """The shop's one order paid by card, then by the attempt a race left (see
    :func:`second_stripe_attempt`): both PaymentIntent ids."""
    await checkout(client, shop, "stripe:card")
    (first,) = f.stripe.intents
    f.stripe.succeed(first)
    assert await notify_paid(client, shop, f, first) == "paid"
    second = await second_stripe_attempt(settings, shop)
    f.stripe.succeed(second)
    assert await notify_paid(client, shop, f, second) == "refund_due"
    return first, second


async def order_page(client: AsyncTestClient[Any], shop: Shop, settings: Settings) -> str:
    ((code, key),) = await query(
        settings, sa.select(Order.code, Order.access_key).order_by(Order.id).limit(1)
    )
    page = await client.get(urls.order_path(shop.slug, code, key))
    assert page.status_code == 200
    return page.text


async def test_money_after_the_hold_expired_and_the_places_sold_is_owed_back(
    db_settings: Settings, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    f, fake_urls = fakes
    shop = await open_shop(db_settings, fake_urls, daily_capacity=3)
    async for client in app_client(db_settings):
        await checkout(client, shop, "stripe:card")  # all 3 places
        engine = make_engine(db_settings)
        try:
            async with make_sessionmaker(engine)() as session:
                assert await expire_holds(session, utcnow() + dt.timedelta(hours=1)) == 1
        finally:
            await engine.dispose()
        resold = await client.post(
            product_url(shop), data=checkout_form(shop, checkout_id="next", payment="demo:card")
        )
        assert resold.status_code == 303
        (intent_id,) = f.stripe.intents
        f.stripe.succeed(intent_id)  # the first visitor paid anyway

        assert await notify_paid(client, shop, f, intent_id) == "refund_due"
        events = await event_count(db_settings)
        assert await notify_paid(client, shop, f, intent_id) == "duplicate"

        assert (await payments(db_settings))[0] == (intent_id, "refund_due", "expired")
        assert await causes(db_settings) == {intent_id: Cause.SOLD_OUT}
        assert await event_count(db_settings) == events  # the duplicate recorded nothing
        assert 'id="late-payment"' in await order_page(client, shop, db_settings)
    tickets = await query(db_settings, sa.select(sa.func.count()).select_from(Ticket))
    assert tickets[0][0] == 0


async def test_money_for_an_order_another_attempt_paid_is_owed_back(shop_client: Client) -> None:
    client, shop, f, settings = shop_client
    first, second = await paid_twice(client, shop, f, settings)

    assert await notify_paid(client, shop, f, second) == "duplicate"
    assert await payments(settings) == [(first, "paid", "paid"), (second, "refund_due", "paid")]
    assert await causes(settings) == {second: Cause.ORDER_PAID}
    tickets = await query(settings, sa.select(sa.func.count()).select_from(Ticket))
    assert tickets[0][0] == 3  # one order's tickets, issued once


async def test_money_for_an_attempt_given_up_is_owed_back(shop_client: Client) -> None:
    client, shop, f, settings = shop_client
    await checkout(client, shop, "stripe:card")
    (intent_id,) = f.stripe.intents
    ((code, key),) = await query(settings, sa.select(Order.code, Order.access_key))
    # The visitor switches to another method: the card attempt is given up.
    switched = await client.post(
        f"/shop/{shop.slug}/orders/{code}/pay", data={"key": key, "payment": "demo:card"}
    )
    assert switched.status_code == 303
    assert (await payments(settings))[0] == (intent_id, "failed", "pending")
    f.stripe.succeed(intent_id)  # ... and Stripe takes the money anyway

    assert await notify_paid(client, shop, f, intent_id) == "refund_due"

    assert (await payments(settings))[0] == (intent_id, "refund_due", "pending")
    assert await causes(settings) == {intent_id: Cause.PAID_AFTER_FAILURE}


async def test_a_given_up_attempt_confirmed_on_the_return_page_is_owed_back(
    db_settings: Settings, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    """The confirmation path itself (return page, demo controls), not only webhooks."""
    _f, fake_urls = fakes
    shop = await open_shop(db_settings, fake_urls)
    async for client in app_client(db_settings):
        await checkout(client, shop, "demo:card")
    engine = make_engine(db_settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=shop.facility_id)
            payment = await session.scalar(sa.select(Payment))
            assert payment is not None
            await fail_payment(session, tenant, payment.id, "given up")

            order, newly = await confirm_payment(session, tenant, payment.id, "demo_late")
            again, newly_again = await confirm_payment(session, tenant, payment.id, "demo_late")

            assert not newly and not newly_again and order.status == OrderStatus.PENDING
            await session.refresh(payment)
            assert payment.state == PaymentState.REFUND_DUE
            assert await payment_outcome(session, tenant, again) == "refund"
    finally:
        await engine.dispose()
    assert await causes(db_settings) == {"demo_late": Cause.PAID_AFTER_FAILURE}


async def give_up_and_pay_anyway(
    client: AsyncTestClient[Any], shop: Shop, f: Fakes, settings: Settings
) -> str:
    """A new order paid by card at Stripe after the visitor switched to another method."""
    before = set(f.stripe.intents)
    response = await client.post(
        product_url(shop), data=checkout_form(shop, checkout_id="gave-up", payment="stripe:card")
    )
    assert response.status_code == 303
    (intent_id,) = set(f.stripe.intents) - before
    ((code, key),) = await query(
        settings, sa.select(Order.code, Order.access_key).order_by(Order.id.desc()).limit(1)
    )
    switched = await client.post(
        f"/shop/{shop.slug}/orders/{code}/pay", data={"key": key, "payment": "demo:card"}
    )
    assert switched.status_code == 303
    f.stripe.succeed(intent_id)
    assert await notify_paid(client, shop, f, intent_id) == "refund_due"
    return intent_id


async def test_reconciliation_gives_back_every_refund_due_payment_once(
    shop_client: Client,
) -> None:
    client, shop, f, settings = shop_client
    first, second = await paid_twice(client, shop, f, settings)
    given_up = await give_up_and_pay_anyway(client, shop, f, settings)

    report = await run(settings)

    assert [(r.what, r.detail) for r in report.refunded] == [
        ("refunded", Cause.ORDER_PAID),
        ("refunded", Cause.PAID_AFTER_FAILURE),
    ]
    assert report.differences == [] and report.errors == []
    states_now = {ref: state for ref, state, _ in await payments(settings)}
    assert [states_now[i] for i in (first, second, given_up)] == ["paid", "refunded", "refunded"]
    refunded = {r["payment_intent"]: r["amount"] for r in f.stripe.refunds.values()}
    assert refunded == {i: f.stripe.intents[i]["amount"] for i in (second, given_up)}
    again = await run(settings)
    assert again.refunded == [] and again.differences == []
    assert len(f.stripe.refunds) == 2  # never refunded twice


async def test_a_refund_due_payment_the_provider_will_not_refund_stays_reported(
    shop_client: Client,
) -> None:
    client, shop, f, settings = shop_client
    first, second = await paid_twice(client, shop, f, settings)
    # Someone refunded it by hand in the Stripe Dashboard: Stripe refuses a second refund.
    amount = f.stripe.intents[second]["amount"]
    f.stripe.refunds["re_by_hand"] = {"amount": amount, "payment_intent": second}

    report = await run(settings)
    later = await run(settings)

    assert report.refunded == []
    assert [(d.what, d.detail.split(":")[0]) for d in report.differences] == [
        ("refund_due", Cause.ORDER_PAID)
    ]
    assert "ProviderRejected" in report.differences[0].detail
    assert [d.what for d in later.differences] == ["refund_due"]  # tried again, still owed
    assert (await payments(settings))[1] == (second, "refund_due", "paid")
    assert list(f.stripe.refunds) == ["re_by_hand"]


async def test_a_signed_failed_then_paid_notification_is_owed_back_and_reported(
    shop_client: Client,
) -> None:
    """Issue 18: Stripe says the attempt failed (canceled), then that it was paid after
    all. The money paid nothing: the payment is refund_due (paid_after_failure), the
    order stays payable, and reconciliation refunds it and reports it, once."""
    client, shop, f, settings = shop_client
    await checkout(client, shop, "stripe:card")
    (intent_id,) = f.stripe.intents
    f.stripe.intents[intent_id]["status"] = "canceled"
    assert await notify(client, shop, f, intent_id, "payment_intent.canceled") == "failed"
    assert (await payments(settings))[0] == (intent_id, "failed", "pending")
    f.stripe.succeed(intent_id)

    assert await notify_paid(client, shop, f, intent_id) == "refund_due"
    assert await notify_paid(client, shop, f, intent_id) == "duplicate"

    assert (await payments(settings))[0] == (intent_id, "refund_due", "pending")
    assert await causes(settings) == {intent_id: Cause.PAID_AFTER_FAILURE}
    tickets = await query(settings, sa.select(sa.func.count()).select_from(Ticket))
    assert tickets[0][0] == 0
    report = await run(settings)
    assert [(r.what, r.detail, r.payment_id) for r in report.refunded] == [
        ("refunded", Cause.PAID_AFTER_FAILURE, 1)
    ]
    assert [r["payment_intent"] for r in f.stripe.refunds.values()] == [intent_id]
    assert (await run(settings)).refunded == []
