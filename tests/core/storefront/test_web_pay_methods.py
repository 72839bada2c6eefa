"""Paying a web order by every method, through the web checkout, on SQLite and PostgreSQL.

The demo provider (card, konbini, PayPay, Paidy) runs with its simulated controls; Stripe
(card, konbini), PayPay and Paidy run against the fakes in ``tests/fakes`` on loopback,
with the facility's credentials stored encrypted through ``payments.credentials``. Also:
a provider that does not answer is retried for the same payment, never paid twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Facility, Order, Payment, Ticket
from core_service.payments.credentials import load_credentials
from core_service.platform.settings import Settings
from kippu_plugins.demo_payments import LEDGER, SIGNATURE_HEADER, notification_body, sign
from tests.support.fakes import paidy as fake_paidy
from tests.support.fakes import stripe as fake_stripe
from tests.support.payments import Fakes, checkout, fakes, first, local, shop_client
from tests.support.web import Shop, checkout_form, product_url, query, run_in_session

__all__ = ["fakes", "shop_client"]  # fixtures, used by name


async def expect_paid(client: AsyncTestClient[Any], settings: Settings, page: str) -> None:
    """The payment page now sends the visitor to the order page with three tickets."""
    response = await client.get(page)
    assert response.status_code == 303, response.text[-2000:]
    tickets = await client.get(local(response.headers["location"]))
    assert tickets.status_code == 200 and "お客様のチケット" in tickets.text
    rows = await query(settings, sa.select(Order.status, Payment.state).join(Payment))
    assert ("paid", "paid") in rows
    assert (await query(settings, sa.select(sa.func.count()).select_from(Ticket)))[0][0] == 3


def sdk_config(html: str) -> dict[str, Any]:
    return json.loads(
        unescape(first(r'<script type="application/json" id="sdk-config">(.*?)</script>', html))
    )


# --- one flow per method ----------------------------------------------------------------

Flow = Callable[[AsyncTestClient[Any], Shop, Fakes, Settings], Awaitable[None]]


async def demo_card(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "demo:card")
    assert page.startswith(f"/demo-pay/{shop.slug}/")
    html = (await client.get(page)).text
    key = first(r'name="key" value="([^"]+)"', html)
    approved = await client.post(first(r'action="([^"]+/approve)"', html), data={"key": key})
    assert approved.status_code == 303
    assert "お客様のチケット" in (await client.get(local(approved.headers["location"]))).text
    assert (await query(s, sa.select(sa.func.count()).select_from(Ticket)))[0][0] == 3


async def demo_konbini(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "demo:konbini")
    slip = await client.get(page)
    assert slip.status_code == 200
    assert "ローソン" in slip.text and 'class="payment-code"' in slip.text
    assert "お支払い期限" in slip.text
    control = local(first(r'href="([^"]+/konbini\?key=[^"]+)"', slip.text))
    register = await client.get(control)
    key = first(r'name="key" value="([^"]+)"', register.text)
    paid = await client.post(control.split("?")[0] + "/pay", data={"key": key, "notify": "1"})
    assert paid.status_code == 303
    # The signed notification already confirmed it: nothing left to ask the provider.
    assert (await query(s, sa.select(Order.status)))[0][0] == "paid"
    await expect_paid(client, s, local(paid.headers["location"]))


async def demo_paypay(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "demo:paypay")
    qr = await client.get(page)
    assert qr.status_code == 200 and "<svg" in qr.text and 'http-equiv="refresh"' in qr.text
    control = local(first(r'href="([^"]+/paypay\?key=[^"]+)"', qr.text))
    key = first(r'name="key" value="([^"]+)"', (await client.get(control)).text)
    paid = await client.post(control.split("?")[0] + "/pay", data={"key": key, "notify": "1"})
    assert paid.status_code == 303
    await expect_paid(client, s, page)


async def demo_paidy(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "demo:paidy")
    assert "/paidy?key=" in page
    form = await client.get(page)
    key = first(r'name="key" value="([^"]+)"', form.text)
    action = first(r'action="([^"]+/paidy/authorize)"', form.text)
    bad = await client.post(action, data={"key": key, "phone": "12", "email": "x@example.jp"})
    assert bad.status_code == 422 and "携帯電話番号" in bad.text
    ok = await client.post(
        action, data={"key": key, "phone": "090-1234-5678", "email": "hanako@example.jp"}
    )
    assert ok.status_code == 303
    await expect_paid(client, s, local(ok.headers["location"]))
    payment_id = (await query(s, sa.select(Payment.id)))[0][0]
    assert LEDGER[(shop.facility_id, f"demo_{payment_id}")].state == "paid"  # captured


async def stripe_card(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "stripe:card")
    card = await client.get(page)
    assert card.status_code == 200
    config = sdk_config(card.text)
    (intent_id,) = f.stripe.intents
    assert config["sdk"] == "stripe.js"
    assert config["publishable_key"] == fake_stripe.PUBLISHABLE_KEY
    assert config["client_secret"] == f.stripe.intents[intent_id]["client_secret"]
    assert local(config["return_url"]) == page
    assert "https://js.stripe.com/v3/" in card.text
    f.stripe.succeed(intent_id)  # what Stripe.js and 3-D Secure did in the browser
    await expect_paid(client, s, f"{page}&payment_intent={intent_id}&redirect_status=succeeded")


async def stripe_konbini(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "stripe:konbini")
    slip = await client.get(page)
    assert "123456" in slip.text and "ファミリーマート" in slip.text
    assert "payments.stripe.com/konbini/voucher" in slip.text
    (intent_id,) = f.stripe.intents
    f.stripe.succeed(intent_id)  # paid at the store days later; Stripe notifies
    body, headers = fake_stripe.signed(f.stripe.event(intent_id, "payment_intent.succeeded"))
    hook = await client.post(
        f"/api/v1/payments/stripe/webhook/{shop.slug}", content=body, headers=headers
    )
    assert hook.json()["outcome"] == "paid"
    await expect_paid(client, s, page)


async def paypay_direct(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "paypay:paypay")
    qr = await client.get(page)
    assert qr.status_code == 200 and "<svg" in qr.text
    (merchant_payment_id,) = f.paypay.payments
    assert "paypay://payment" in qr.text  # the deeplink for a phone
    f.paypay.pay(merchant_payment_id)  # scanned and approved in the app
    await expect_paid(client, s, page)  # the waiting page polls PayPay


async def paidy_direct(client: AsyncTestClient[Any], shop: Shop, f: Fakes, s: Settings) -> None:
    page = await checkout(client, shop, "paidy:paidy")
    html = (await client.get(page)).text
    config = sdk_config(html)
    assert config["sdk"] == "paidy-checkout" and config["api_key"] == fake_paidy.PUBLIC_KEY
    payload = config["payload"]
    # What Paidy checkout does in the browser: authorise, then call kippu back.
    paidy_id = f.paidy.authorize(
        payload["amount"], payload["order"]["order_ref"], payload["metadata"]
    )
    callback = await client.post(
        config["paidy_callback_url"],
        json={"paidy_payment_id": paidy_id, "key": config["order_key"]},
    )
    assert callback.json()["outcome"] == "paid"
    await expect_paid(client, s, local(config["back_url"]))
    assert len(f.paidy.payments[paidy_id]["captures"]) == 1


FLOWS: dict[str, Flow] = {
    "demo-card": demo_card,
    "demo-konbini": demo_konbini,
    "demo-paypay": demo_paypay,
    "demo-paidy": demo_paidy,
    "stripe-card": stripe_card,
    "stripe-konbini": stripe_konbini,
    "paypay": paypay_direct,
    "paidy": paidy_direct,
}


@pytest.mark.parametrize("method", list(FLOWS))
async def test_an_order_is_paid_by_every_method_through_the_web_checkout(
    method: str, shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings]
) -> None:
    client, shop, f, settings = shop_client
    await FLOWS[method](client, shop, f, settings)


# --- provider unavailable -----------------------------------------------------------------


@pytest.mark.parametrize("choice", ["stripe:card", "paypay:paypay"])
async def test_an_unavailable_provider_is_retried_for_the_same_payment(
    choice: str, shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings]
) -> None:
    """A provider answering 500 shows a clear message; the retry reuses the payment and
    its idempotency key, and the order is paid once."""
    client, shop, f, settings = shop_client
    fake = f.stripe if choice.startswith("stripe") else f.paypay
    fake.fail_next.extend(["500"] * 3)  # the first start and both automatic retries
    page = await checkout(client, shop, choice)
    sorry = await client.get(page)
    assert sorry.status_code == 503
    assert "決済サービスが応答していません" in sorry.text and "請求されていません" in sorry.text
    retry = first(r'<form method="post" action="([^"]+/retry)"', sorry.text)
    key = first(r'name="key" value="([^"]+)"', sorry.text)
    again = await client.post(retry, data={"key": key})
    assert again.status_code == 303 and local(again.headers["location"]) == page
    assert (await client.get(page)).status_code == 200
    # A second retry (double click) starts nothing new.
    assert (await client.post(retry, data={"key": key})).status_code == 303
    assert len(await query(settings, sa.select(Payment.id))) == 1
    if choice.startswith("stripe"):
        posts = f.stripe.requests_to("POST", "/v1/payment_intents")
        assert len(posts) == 4
        assert len({r.headers["idempotency-key"] for r in posts}) == 1
        (intent_id,) = f.stripe.intents
        f.stripe.succeed(intent_id)
        await expect_paid(client, settings, page + "&redirect_status=succeeded")
    else:
        posts = f.paypay.requests_to("POST", "/v2/codes")
        assert len(posts) == 4
        assert len({json.loads(r.body)["merchantPaymentId"] for r in posts}) == 1
        (merchant_payment_id,) = f.paypay.payments
        f.paypay.pay(merchant_payment_id)
        await expect_paid(client, settings, page)


async def test_choosing_another_method_gives_up_the_unpaid_slip(
    shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings],
) -> None:
    client, shop, f, settings = shop_client
    slip_page = await checkout(client, shop, "demo:konbini")
    order_url = first(
        r'href="([^"]+/orders/[^"/]+\?key=[^"]+)"', (await client.get(slip_page)).text
    )
    code = urlsplit(order_url).path.rsplit("/", 1)[1]
    key = urlsplit(order_url).query.removeprefix("key=")
    switched = await client.post(
        f"/shop/{shop.slug}/orders/{code}/pay", data={"key": key, "payment": "demo:card"}
    )
    assert "/demo-pay/" in switched.headers["location"]
    states = await query(settings, sa.select(Payment.method, Payment.state).order_by(Payment.id))
    assert states == [("konbini", "failed"), ("card", "pending")]
    konbini_id = (await query(settings, sa.select(Payment.id).order_by(Payment.id)))[0][0]
    assert LEDGER[(shop.facility_id, f"demo_{konbini_id}")].state == "failed"  # cancelled


async def test_demo_notifications_are_signed_and_verified(
    shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings],
) -> None:
    """Forged or stale demo notifications are refused; a genuine replay changes nothing."""
    client, shop, _f, settings = shop_client
    page = await checkout(client, shop, "demo:paypay")
    control = local(first(r'href="([^"]+/paypay\?key=[^"]+)"', (await client.get(page)).text))
    key = first(r'name="key" value="([^"]+)"', (await client.get(control)).text)
    await client.post(control.split("?")[0] + "/pay", data={"key": key, "notify": "1"})
    (payment_id,) = [p for (p,) in await query(settings, sa.select(Payment.id))]
    charge = LEDGER[(shop.facility_id, f"demo_{payment_id}")]
    body = notification_body(charge, "evt_replayed")
    secret = load_credentials(
        (await query(settings, sa.select(Facility)))[0][0], "demo", settings.secret_key
    )["webhook_secret"]
    url = f"/api/v1/payments/demo/webhook/{shop.slug}"
    forged = await client.post(url, content=body, headers={SIGNATURE_HEADER: sign("guess", body)})
    stale = await client.post(
        url, content=body, headers={SIGNATURE_HEADER: sign(secret, body, timestamp=1)}
    )
    replay = await client.post(url, content=body, headers={SIGNATURE_HEADER: sign(secret, body)})
    assert (forged.status_code, stale.status_code) == (400, 400)
    assert replay.json()["outcome"] == "duplicate"
    assert (await query(settings, sa.select(sa.func.count()).select_from(Ticket)))[0][0] == 3


async def test_a_card_declined_at_start_can_be_retried(
    shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings],
) -> None:
    client, shop, f, settings = shop_client
    f.stripe.decline_next = True
    response = await client.post(product_url(shop), data=checkout_form(shop, payment="stripe:card"))
    assert response.status_code == 303 and "declined=1" in response.headers["location"]
    order_page = await client.get(local(response.headers["location"]))
    assert "お支払いが承認されませんでした" in order_page.text
    assert await query(settings, sa.select(Payment.state)) == [("failed",)]


async def test_the_slip_and_the_demo_register_speak_english(
    shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings],
) -> None:
    client, shop, _f, _settings = shop_client
    page = await checkout(client, shop, "demo:konbini")
    slip = await client.get(page + "&lang=en")
    assert '<html lang="en">' in slip.text
    assert "Pay at a convenience store" in slip.text and "Lawson" in slip.text
    assert "Payment code" in slip.text and "Pay by" in slip.text
    register = await client.get(local(first(r'href="([^"]+/konbini\?key=[^"]+)"', slip.text)))
    assert "Convenience store register (demo)" in register.text


async def test_an_expired_qr_code_is_replaced_by_a_new_attempt(
    shop_client: tuple[AsyncTestClient[Any], Shop, Fakes, Settings],
) -> None:
    client, shop, _f, settings = shop_client
    page = await checkout(client, shop, "demo:paypay")
    (payment,) = [p for (p,) in await query(settings, sa.select(Payment))]
    past = int(time.time()) - 60
    action = dict(payment.data["next_action"])
    action["data"] = {**action["data"], "expires_at": past}
    LEDGER[(shop.facility_id, f"demo_{payment.id}")].expires_at = past

    async def expire(session: Any) -> None:
        await session.execute(
            sa.update(Payment)
            .where(Payment.id == payment.id)
            .values(data={**payment.data, "expires_at": past, "next_action": action})
        )
        await session.commit()

    await run_in_session(settings, expire)
    expired = await client.get(page)
    assert "このQRコードは有効期限が切れています" in expired.text
    assert 'http-equiv="refresh"' not in expired.text
    renew = first(r'<form method="post" action="([^"]+/pay)"', expired.text)
    key = first(r'name="key" value="([^"]+)"', expired.text)
    fresh = await client.post(renew, data={"key": key, "payment": "demo:paypay"})
    assert fresh.status_code == 303 and local(fresh.headers["location"]) != page
    assert "<svg" in (await client.get(local(fresh.headers["location"]))).text
    states = await query(settings, sa.select(Payment.state).order_by(Payment.id))
    assert states == [("failed",), ("pending",)]
