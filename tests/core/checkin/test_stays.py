"""Time stays (F19) through the HTTP APIs, on SQLite and PostgreSQL: the gate's entry starts
the clock, the exit asks for the charge, the kiosk sells it, and the exit then admits."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.demo.data import DemoFacility
from core_service.models import CheckIn, Order, StayCharge, StayVisit, Ticket, utcnow
from core_service.orders.expiry import expire_holds
from core_service.platform.settings import Settings
from kippu_contract.tokens import verify_token
from tests.core.aftersales.test_receipts import download, pdf_text
from tests.support.aftersales import EMAIL, data_tokens, html_client, scan, staff_headers
from tests.support.stays import STAY_CODE, add_stay_product, buy_stay_at_kiosk, move_back
from tests.support.web import pay_with_demo, query, run_in_session
from tests.support.webhooks import add_endpoint, kiosk_sale, recorded_events

MINUTES = dt.timedelta(minutes=1)
CHARGE = "/api/v1/kiosk/stays/charge"
PAY = "/api/v1/kiosk/stays/orders"


@pytest.fixture
async def stay_token(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> str:
    category_id = await add_stay_product(db_settings, demo)
    return await buy_stay_at_kiosk(client, kiosk_headers, category_id)


def _payment(charge: dict[str, Any], amount: int | None = None) -> dict[str, Any]:
    return {
        "token": "",
        "period_total": charge["period_total"],
        "payment": {"method": "card", "reference": "term-9", "amount": amount or charge["due"]},
    }


async def _pay_at_kiosk(
    client: AsyncTestClient[Any], kiosk_headers: dict[str, str], token: str
) -> tuple[dict[str, Any], Any]:
    charge = (await client.get(CHARGE, params={"token": token}, headers=kiosk_headers)).json()
    response = await client.post(
        PAY, json={**_payment(charge), "token": token}, headers=kiosk_headers
    )
    return charge, response


async def test_exit_is_refused_until_the_stay_is_paid_at_the_kiosk(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    entry = await scan(client, gate_headers, stay_token, "entry")
    assert entry["result"] == "admitted", entry
    await move_back(db_settings, entry=65 * MINUTES, payments=0 * MINUTES)  # 3 units started

    refused = await scan(client, gate_headers, stay_token, "exit")
    assert (refused["result"], refused["admitted"], refused["amount_due"]) == (
        "payment_due",
        False,
        1500,
    )
    assert "￥1,500" in refused["message_ja"] and "￥1,500" in refused["message_en"]

    charge, paid = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    assert (charge["due"], charge["period_total"], charge["paid"]) == (1500, 1500, 0)
    assert charge["minutes"] == 65 and charge["tax_rate"] == 10
    assert paid.status_code == 201, paid.text
    order = paid.json()["order"]
    assert (order["status"], order["total"], order["channel"]) == ("paid", 1500, "kiosk")
    assert order["lines"][0]["category_name_en"] == "Stay charge (65 min)"
    assert order["tax_summary"] == [{"rate": 10, "total": 1500, "tax": 136}]
    assert paid.json()["tickets"] == []

    admitted = await scan(client, gate_headers, stay_token, "exit")
    assert (admitted["result"], admitted["admitted"]) == ("admitted", True)
    again = await scan(client, gate_headers, stay_token, "exit")
    assert again["result"] == "already_used"
    rows = await query(
        db_settings, sa.select(CheckIn.direction, CheckIn.result).order_by(CheckIn.id)
    )
    assert [tuple(r) for r in rows] == [
        ("entry", "admitted"),
        ("exit", "payment_due"),
        ("exit", "admitted"),
        ("exit", "already_used"),
    ]
    (visit,) = [r[0] for r in await query(db_settings, sa.select(StayVisit))]
    assert visit.exited_at is not None


async def test_paying_the_same_period_twice_charges_once(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await scan(client, gate_headers, stay_token, "entry")
    await move_back(db_settings, entry=40 * MINUTES, payments=0 * MINUTES)
    charge, first = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    assert first.status_code == 201, first.text
    retried = await client.post(
        PAY, json={**_payment(charge), "token": stay_token}, headers=kiosk_headers
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["order"]["code"] == first.json()["order"]["code"]
    charges = await query(db_settings, sa.select(StayCharge.amount))
    assert [r[0] for r in charges] == [1000]
    tickets = await query(db_settings, sa.select(sa.func.count(Ticket.id)))
    assert tickets[0][0] == 1  # the stay ticket; the charge issued none
    after = (await client.get(CHARGE, params={"token": stay_token}, headers=kiosk_headers)).json()
    assert (after["due"], after["paid"]) == (0, 1000)


async def test_a_stale_quote_is_refused_and_nothing_is_charged(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await scan(client, gate_headers, stay_token, "entry")
    await move_back(db_settings, entry=20 * MINUTES, payments=0 * MINUTES)
    charge = (await client.get(CHARGE, params={"token": stay_token}, headers=kiosk_headers)).json()
    await move_back(db_settings, entry=20 * MINUTES, payments=0 * MINUTES)  # a unit more
    response = await client.post(
        PAY, json={**_payment(charge), "token": stay_token}, headers=kiosk_headers
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["code"], body["due"], body["period_total"]) == ("charge_changed", 1000, 1000)
    assert not await query(db_settings, sa.select(Order.id).where(Order.total == 500))
    assert not await query(db_settings, sa.select(StayCharge.id))


async def test_an_exit_after_the_grace_owes_the_difference(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await scan(client, gate_headers, stay_token, "entry")
    await move_back(db_settings, entry=10 * MINUTES, payments=0 * MINUTES)
    _, paid = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    assert paid.json()["order"]["total"] == 500
    # 14 minutes after paying: within the grace, although a second unit has started.
    await move_back(db_settings, entry=24 * MINUTES, payments=14 * MINUTES)
    within = (await client.get(CHARGE, params={"token": stay_token}, headers=kiosk_headers)).json()
    assert within["due"] == 0
    # 20 minutes after paying (44 minutes in): the second unit is owed.
    await move_back(db_settings, entry=6 * MINUTES, payments=6 * MINUTES)
    refused = await scan(client, gate_headers, stay_token, "exit")
    assert refused["result"] == "payment_due" and "￥500" in refused["message_en"]
    charge, second = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    assert (charge["period_total"], charge["paid"], charge["due"]) == (1000, 500, 500)
    assert second.status_code == 201, second.text
    assert (await scan(client, gate_headers, stay_token, "exit"))["admitted"]


async def test_a_stay_ticket_enters_once_and_not_at_rides(
    client: AsyncTestClient[Any], gate_headers: dict[str, str], stay_token: str
) -> None:
    assert (await scan(client, gate_headers, stay_token, "ride"))["result"] == "invalid"
    assert (await scan(client, gate_headers, stay_token, "entry"))["admitted"]
    assert (await scan(client, gate_headers, stay_token, "entry"))["result"] == "already_used"


async def test_nothing_to_pay_within_the_first_unit_and_the_kiosk_says_so(
    client: AsyncTestClient[Any],
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    not_inside = await client.get(CHARGE, params={"token": stay_token}, headers=kiosk_headers)
    assert not_inside.status_code == 404 and not_inside.json()["code"] == "not_found"
    await scan(client, gate_headers, stay_token, "entry")
    # A moment after entry: the first unit has started, so ¥500 is due.
    charge = (await client.get(CHARGE, params={"token": stay_token}, headers=kiosk_headers)).json()
    assert charge["due"] == 500
    bad = await client.get(CHARGE, params={"token": "K1.nonsense"}, headers=kiosk_headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


async def test_the_kiosk_charge_has_a_receipt_with_the_stay_line_and_its_tax(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await scan(client, gate_headers, stay_token, "entry")
    await move_back(db_settings, entry=95 * MINUTES, payments=0 * MINUTES)
    _, paid = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    code = paid.json()["order"]["code"]
    key = (await query(db_settings, sa.select(Order.access_key).where(Order.code == code)))[0][0]
    text = pdf_text(await download(client, demo, code, key))
    assert "キッズルーム 利用料金（95分）" in text
    # 4 units of ¥500 = ¥2,000, the daily cap; tax floor(2,000 × 10 / 110) = 181.
    assert "10%対象 ￥2,000" in text and "内消費税 ￥181" in text


async def test_the_stay_is_paid_online_from_the_ticket_page(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    page_url, token = await _buy_stay_online(client, demo, db_settings)
    assert (await scan(client, gate_headers, token, "entry"))["admitted"]
    await move_back(db_settings, entry=65 * MINUTES, payments=0 * MINUTES)
    assert (await scan(client, gate_headers, token, "exit"))["result"] == "payment_due"

    page = await client.get(page_url)
    assert "退場前のお支払い: 1,500円" in page.text
    action, pay_form = _stay_pay_form(page_url, page.text)
    started = await client.post(action, data=pay_form)
    double_click = await client.post(action, data=pay_form)
    charge_page = await pay_with_demo(client, started)
    assert charge_page.status_code == 200, charge_page.text
    assert double_click.status_code == 303  # the same pending charge, paid once below

    charges = await query(
        db_settings,
        sa.select(Order.code, Order.total, Order.status, Order.channel, Order.access_key).join(
            StayCharge, StayCharge.order_id == Order.id
        ),
    )
    assert [tuple(c)[1:4] for c in charges] == [(1500, "paid", "web")]
    tickets = await query(db_settings, sa.select(sa.func.count(Ticket.id)))
    assert tickets[0][0] == 1  # paying the charge issued no second stay ticket
    assert (await scan(client, gate_headers, token, "exit"))["admitted"]
    code, key = charges[0][0], charges[0][4]
    text = pdf_text(await download(client, demo, code, key))
    assert "キッズルーム 利用料金（65分）" in text
    assert "10%対象 ￥1,500" in text and "内消費税 ￥136" in text


async def _buy_stay_online(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> tuple[str, str]:
    """A stay ticket bought on the web for ¥300: (its order page, its QR token)."""
    category_id = await add_stay_product(db_settings, demo, base_price=300)
    html_client(client)
    form = {
        "checkout_id": str(uuid.uuid4()),
        f"qty_{category_id}": "1",
        "email": EMAIL,
        "name": "山田花子",
        "consent_waiver": "on",
        "payment": "demo:card",
    }
    bought = await pay_with_demo(
        client, await client.post(f"/shop/{demo.slug}/products/{STAY_CODE}", data=form)
    )
    assert bought.status_code == 200, bought.text
    (token,) = data_tokens(bought.text)
    return str(bought.url), token


def _stay_pay_form(page_url: str, html: str) -> tuple[str, dict[str, str]]:
    action = re.findall(r'<form method="post" action="([^"]+/stay-pay)"', html)[0]
    return action, {
        "key": parse_qs(urlsplit(page_url).query)["key"][0],
        "period_total": re.findall(r'name="period_total" value="(\d+)"', html)[0],
        "payment": "demo:card",
    }


async def test_a_charge_that_expired_unpaid_can_be_paid_again(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    page_url, token = await _buy_stay_online(client, demo, db_settings)
    await scan(client, gate_headers, token, "entry")
    await move_back(db_settings, entry=50 * MINUTES, payments=0 * MINUTES)
    action, pay_form = _stay_pay_form(page_url, (await client.get(page_url)).text)
    assert (await client.post(action, data=pay_form)).status_code == 303  # left unpaid

    async def expire(session: AsyncSession) -> int:
        return await expire_holds(session, utcnow() + dt.timedelta(days=1))

    assert await run_in_session(db_settings, expire) == 1
    again = await pay_with_demo(client, await client.post(action, data=pay_form))
    assert again.status_code == 200, again.text
    charges = await query(
        db_settings,
        sa.select(Order.status, Order.total)
        .join(StayCharge, StayCharge.order_id == Order.id)
        .order_by(Order.id),
    )
    assert [tuple(c) for c in charges] == [("expired", 1000), ("paid", 1000)]
    assert (await scan(client, gate_headers, token, "exit"))["admitted"]


async def test_a_kiosk_charge_announces_order_paid_to_webhooks(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await add_endpoint(client, demo, "https://hooks.example/kippu", ("order.paid",))
    await scan(client, gate_headers, stay_token, "entry")
    await move_back(db_settings, entry=40 * MINUTES, payments=0 * MINUTES)
    _, paid = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    code = paid.json()["order"]["code"]
    events = await recorded_events(db_settings)
    assert [data for kind, data in events if kind == "order.paid"] == [
        {"order_code": code, "channel": "kiosk", "total": 1000, "currency": "JPY", "ticket_ids": []}
    ]


async def test_offline_gates_do_not_get_stay_tickets(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    day_ticket = (await kiosk_sale(client, demo, kiosk_headers))["tickets"][0]["id"]
    bundle = await client.get("/api/v1/gate/offline-bundle", headers=gate_headers)
    assert bundle.status_code == 200, bundle.text
    ids = {t["id"] for t in bundle.json()["tickets"]}
    assert day_ticket in ids and verify_token(stay_token, _key(bundle)).subject_id not in ids


def _key(bundle: Any) -> str:
    key: str = bundle.json()["public_key"]
    return key


async def test_the_cancellation_api_refuses_a_charge_order_clearly(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
    kiosk_headers: dict[str, str],
    stay_token: str,
) -> None:
    await scan(client, gate_headers, stay_token, "entry")
    _, paid = await _pay_at_kiosk(client, kiosk_headers, stay_token)
    code = paid.json()["order"]["code"]
    refused = await client.post(
        f"/api/v1/orders/{code}/cancel",
        json={},
        headers={**await staff_headers(client, demo), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "conflict"
    status = await query(db_settings, sa.select(Order.status).where(Order.code == code))
    assert status[0][0] == "paid"
