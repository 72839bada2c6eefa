"""The reconciliation job: missed notifications, konbini expiry, reported differences.

Runs on SQLite and PostgreSQL against the demo provider and the provider fakes.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from core_service.jobs.definitions import JOBS_BY_NAME, RECONCILE_PERIOD_SECONDS
from core_service.jobs.resources import open_resources
from core_service.models import Order, Payment, Ticket, utcnow
from core_service.orders.expiry import expire_holds
from core_service.payments import reconciliation
from core_service.payments.reconciliation import ReconciliationReport, reconcile
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_cli.main import main
from kippu_plugins.demo_payments import LEDGER
from tests.support.fakes import stripe as fake_stripe
from tests.support.payments import (
    Fakes,
    checkout,
    fakes,
    fast_timeouts,
    first,
    local,
    open_shop,
    shop_client,
)
from tests.support.web import Shop, app_client, checkout_form, product_url, query

__all__ = ["fakes", "fast_timeouts", "shop_client"]  # fixtures, used by name

Client = tuple[AsyncTestClient[Any], Shop, Fakes, Settings]


async def run(settings: Settings, now: dt.datetime | None = None) -> ReconciliationReport:
    engine = make_engine(settings)
    try:
        return await reconcile(
            make_sessionmaker(engine),
            PluginHost(build_plugin_manager()),
            settings,
            Signer(settings.secret_key),
            now=now,
            min_age=dt.timedelta(0),
        )
    finally:
        await engine.dispose()


async def demo_pay_without_notification(client: AsyncTestClient[Any], page: str, step: str) -> None:
    """Pay with a demo control but lose the notification on the way."""
    shown = await client.get(page)
    control = local(first(rf'href="([^"]+/{step}\?key=[^"]+)"', shown.text))
    key = first(r'name="key" value="([^"]+)"', (await client.get(control)).text)
    paid = await client.post(control.split("?")[0] + "/pay", data={"key": key})  # notify off
    assert paid.status_code == 303


async def order_and_payment(settings: Settings) -> list[tuple[str, str]]:
    return [
        (o, p)
        for o, p in await query(
            settings, sa.select(Order.status, Payment.state).join(Payment).order_by(Payment.id)
        )
    ]


@pytest.mark.parametrize("choice", ["paypay:paypay", "demo:konbini", "demo:paypay"])
async def test_a_missed_notification_is_picked_up(choice: str, shop_client: Client) -> None:
    client, shop, f, settings = shop_client
    page = await checkout(client, shop, choice)
    if choice == "paypay:paypay":
        (merchant_payment_id,) = f.paypay.payments
        f.paypay.pay(merchant_payment_id)  # PayPay's notification never arrives
    else:
        await demo_pay_without_notification(client, page, choice.split(":")[1])
    assert await order_and_payment(settings) == [("pending", "pending")]

    report = await run(settings)

    assert [c.what for c in report.confirmed] == ["missed_notification"]
    assert report.differences == [] and report.errors == []
    assert await order_and_payment(settings) == [("paid", "paid")]
    assert (await query(settings, sa.select(sa.func.count()).select_from(Ticket)))[0][0] == 3
    again = await run(settings)  # nothing left to do
    assert again.checked == 0 and again.confirmed == []


async def test_a_konbini_slip_past_its_deadline_expires_and_frees_the_seats(
    db_settings: Settings, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    _f, urls = fakes
    shop = await open_shop(db_settings, urls, daily_capacity=3)
    async for client in app_client(db_settings):
        page = await checkout(client, shop, "demo:konbini")  # 3 of 3 seats
        sold_out = await client.post(
            product_url(shop), data=checkout_form(shop, checkout_id="second-visitor")
        )
        assert sold_out.status_code == 409
        (deadline,) = [
            p.data["expires_at"] for (p,) in await query(db_settings, sa.select(Payment))
        ]
        (hold,) = [h for (h,) in await query(db_settings, sa.select(Order.hold_expires_at))]
        # The seats are held past the slip's deadline, not just for the usual minutes.
        assert hold.replace(tzinfo=dt.UTC).timestamp() > deadline
        assert (await run(db_settings)).expired == []  # before the deadline: nothing

        after = dt.datetime.fromtimestamp(deadline, dt.UTC) + dt.timedelta(minutes=1)
        report = await run(db_settings, now=after)

        assert [e.what for e in report.expired] == ["deadline_passed"]
        assert await order_and_payment(db_settings) == [("expired", "failed")]
        payment_id = (await query(db_settings, sa.select(Payment.id)))[0][0]
        code = (await query(db_settings, sa.select(Order.code)))[0][0]
        assert LEDGER[(shop.facility_id, f"demo_{payment_id}")].state == "failed"  # cancelled
        later = await client.post(
            product_url(shop), data=checkout_form(shop, checkout_id="third-visitor")
        )
        assert later.status_code == 303, "the seats are sold again"
        # The expired slip's page now shows the expired order.
        assert "/orders/" + code in (await client.get(page)).headers["location"]


async def test_money_for_an_expired_order_whose_seats_were_resold_is_reported(
    db_settings: Settings, fakes: tuple[Fakes, dict[str, str]]
) -> None:
    f, urls = fakes
    shop = await open_shop(db_settings, urls, daily_capacity=3)
    async for client in app_client(db_settings):
        await checkout(client, shop, "stripe:card")
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
    f.stripe.succeed(intent_id)  # the first visitor paid anyway, and the webhook was lost

    report = await run(db_settings)

    assert [(r.what, r.provider, r.detail) for r in report.refunded] == [
        ("refunded", "stripe", "sold_out")
    ]
    assert report.confirmed == [] and report.differences == []
    assert (await order_and_payment(db_settings))[0] == ("expired", "refunded")
    assert (await query(db_settings, sa.select(sa.func.count()).select_from(Ticket)))[0][0] == 0
    (refund,) = f.stripe.refunds.values()
    assert refund["amount"] == f.stripe.intents[intent_id]["amount"]


async def test_an_amount_mismatch_is_reported_and_not_confirmed(shop_client: Client) -> None:
    client, shop, f, settings = shop_client
    await checkout(client, shop, "stripe:konbini")
    (intent_id,) = f.stripe.intents
    f.stripe.succeed(intent_id)
    f.stripe.intents[intent_id]["amount_received"] = 1

    report = await run(settings)

    assert [d.what for d in report.differences] == ["amount_mismatch"]
    assert await order_and_payment(settings) == [("pending", "pending")]


async def test_an_unreachable_provider_is_reported_and_changes_nothing(
    shop_client: Client, fast_timeouts: None
) -> None:
    client, shop, f, settings = shop_client
    await checkout(client, shop, "paypay:paypay")
    f.paypay.fail_next.extend(["500"] * 3)

    report = await run(settings)

    assert [e.what for e in report.errors] == ["not_checked"]
    assert await order_and_payment(settings) == [("pending", "pending")]


async def test_the_reconcile_job_reconciles_every_few_minutes(
    shop_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, shop, _f, settings = shop_client
    page = await checkout(client, shop, "demo:paypay")
    await demo_pay_without_notification(client, page, "paypay")
    monkeypatch.setattr(reconciliation, "MIN_AGE", dt.timedelta(0))
    job = JOBS_BY_NAME["reconcile_payments"]
    async with open_resources(settings) as resources:
        await job.run(resources)
    assert await order_and_payment(settings) == [("paid", "paid")]
    # Providers are asked over the network: not at the cadence of holds and mail.
    assert job.period(settings) == RECONCILE_PERIOD_SECONDS >= 60


def test_the_cli_reconciles_and_prints_a_summary(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIPPU_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("KIPPU_SECRET_KEY", sqlite_settings.secret_key)
    monkeypatch.setenv("KIPPU_VAR_DIR", os.fspath(sqlite_settings.var_dir))
    result = CliRunner().invoke(main, ["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "checked 0: 0 confirmed" in result.output


async def test_a_slip_cancelled_at_the_provider_keeps_the_seats_only_briefly(
    shop_client: Client,
) -> None:
    """Stripe cancels an expired konbini PaymentIntent: the days-long hold ends soon."""
    client, shop, f, settings = shop_client
    await checkout(client, shop, "stripe:konbini")
    (intent_id,) = f.stripe.intents
    f.stripe.intents[intent_id]["status"] = "canceled"
    body, headers = fake_stripe.signed(f.stripe.event(intent_id, "payment_intent.canceled"))
    hook = await client.post(
        f"/api/v1/payments/stripe/webhook/{shop.slug}", content=body, headers=headers
    )
    assert hook.json()["outcome"] == "failed"
    (hold,) = [h for (h,) in await query(settings, sa.select(Order.hold_expires_at))]
    limit = utcnow() + dt.timedelta(minutes=settings.hold_minutes, seconds=5)
    assert hold.replace(tzinfo=dt.UTC) <= limit
    assert await order_and_payment(settings) == [("pending", "failed")]
