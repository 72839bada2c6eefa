"""Where each webhook event is written, and what it says: order.paid from a payment's
confirmation and from a kiosk sale, pass.issued per annual pass, order.cancelled when the
last ticket goes, order.refunded for provider refunds, in-person payouts and money that
paid nothing, ticket.redeemed per ticket a scan used (not for exits). Thin payloads: no
personal data. SQLite and PostgreSQL."""

from __future__ import annotations

import inspect
import re
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.catalog.rules import Holder
from core_service.demo.data import DemoFacility
from core_service.models import Order, Payment, Ticket, WebhookDelivery, WebhookEvent
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.payments.refund_due import give_back
from core_service.payments.transitions import confirm_payment, create_payment
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.webhooks import payloads
from kippu_contract.states import OrderStatus
from kippu_contract.webhooks import (
    EVENT_TYPES,
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    PASS_ISSUED,
    TICKET_REDEEMED,
)
from tests.support import REPO_ROOT
from tests.support.aftersales import (
    EMAIL,
    buy_online,
    data_tokens,
    group_token_of,
    order_path,
    scan,
    staff_headers,
    tickets_of,
)
from tests.support.gate_rules import set_product
from tests.support.web import query, run_in_session, visit_day
from tests.support.webhooks import add_endpoint, kiosk_sale, recorded_events

HOST = PluginHost(build_plugin_manager())
URL = "https://erp.example/hooks"
HOLDER = "山田花子"


async def _cancel(
    client: AsyncTestClient[Any], demo: DemoFacility, code: str, body: dict[str, Any]
) -> dict[str, Any]:
    headers = {**await staff_headers(client, demo, "staff"), "Idempotency-Key": str(uuid.uuid4())}
    response = await client.post(f"/api/v1/orders/{code}/cancel", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_paid_web_order_announces_order_paid_without_personal_data(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_endpoint(client, demo, URL)
    code, _ = await buy_online(client, demo, adults=2, children=1)
    tickets = await tickets_of(db_settings, code)
    ((event_type, data),) = await recorded_events(db_settings)
    assert event_type == ORDER_PAID
    assert data == {
        "order_code": code,
        "channel": "web",
        "total": 2 * 2000 + 1000,
        "currency": "JPY",
        "ticket_ids": [t.id for t in tickets],
    }
    ((body, facility_id),) = await query(
        db_settings, sa.select(WebhookEvent.body, WebhookEvent.facility_id)
    )
    assert facility_id == demo.facility_id and f'"facility":"{demo.slug}"' in body
    assert EMAIL not in body and HOLDER not in body and "@" not in body


async def test_a_kiosk_sale_announces_order_paid_with_one_delivery_per_endpoint(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    first, _ = await add_endpoint(client, demo, URL)
    second, _ = await add_endpoint(client, demo, URL + "/2", (ORDER_PAID,))
    await add_endpoint(client, demo, URL + "/3", (TICKET_REDEEMED,))  # not this one
    sale = await kiosk_sale(client, demo, kiosk_headers)
    assert [t for t, _ in await recorded_events(db_settings)] == [ORDER_PAID]
    rows = await query(
        db_settings,
        sa.select(WebhookDelivery.endpoint_id, WebhookDelivery.status, WebhookDelivery.facility_id),
    )
    assert sorted(rows) == [
        (first, "pending", demo.facility_id),
        (second, "pending", demo.facility_id),
    ]
    ((_, data),) = await recorded_events(db_settings)
    assert data["channel"] == "kiosk" and data["order_code"] == sale["order"]["code"]


async def test_nothing_is_written_without_a_subscriber(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await add_endpoint(client, demo, URL, (ORDER_CANCELLED,))
    sale = await kiosk_sale(client, demo, kiosk_headers)
    await scan(client, gate_headers, sale["tickets"][0]["qr_token"])
    await buy_online(client, demo)
    assert await recorded_events(db_settings) == []


async def _place_pass_order(
    db_settings: Settings, demo: DemoFacility, *, paid: bool
) -> tuple[int, str]:
    """Two annual passes on the web; paid at once or pending. (order id, order code)."""
    request = CheckoutRequest(
        channel="web",
        answers={"consent_waiver": True},
        lines=[
            LineRequest(
                demo.pass_adult_category_id,
                2,
                None,
                "",
                (_holder(HOLDER), _holder("Ken Yamada")),
            )
        ],
        payment=ImmediatePayment("demo", "card", "ref-p", 24000) if paid else None,
        idempotency_key=str(uuid.uuid4()),
    )

    async def work(session: Any) -> tuple[int, str]:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, _ = await place_order(session, tenant, request, hold_minutes=15)
        return order.id, order.code

    result: tuple[int, str] = await run_in_session(db_settings, work)
    return result


def _holder(name: str) -> Holder:
    return Holder(name, visit_day())


async def test_annual_passes_are_announced_one_by_one_when_paid_at_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_endpoint(client, demo, URL)
    order_id, code = await _place_pass_order(db_settings, demo, paid=True)
    events = await recorded_events(db_settings)
    assert [t for t, _ in events] == [ORDER_PAID, PASS_ISSUED, PASS_ISSUED]
    tickets = [t for (t,) in await query(db_settings, sa.select(Ticket).order_by(Ticket.id))]
    for (_, data), ticket in zip(events[1:], tickets, strict=True):
        assert data["ticket_id"] == ticket.id and data["order_code"] == code
        assert data["product_code"] == "annual" and data["validity_start"] == "first_use"
        assert data["valid_until"] == ticket.valid_until.isoformat()
    assert HOLDER not in str(events)


async def test_annual_passes_are_announced_when_their_payment_is_confirmed(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_endpoint(client, demo, URL, (PASS_ISSUED,))
    order_id, code = await _place_pass_order(db_settings, demo, paid=False)
    assert await recorded_events(db_settings) == []  # pending: nothing issued yet

    async def pay(session: Any) -> bool:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        pending = await session.get(Order, order_id)
        payment = await create_payment(session, tenant, pending, "demo", "card")
        _, newly_paid = await confirm_payment(session, tenant, payment.id, "ref-late")
        again = await confirm_payment(session, tenant, payment.id, "ref-late")  # a duplicate
        return newly_paid and not again[1]

    assert await run_in_session(db_settings, pay)
    events = await recorded_events(db_settings)
    assert [t for t, _ in events] == [PASS_ISSUED, PASS_ISSUED]  # once, not per confirmation
    assert {d["order_code"] for _, d in events} == {code}


async def test_cancelling_the_last_tickets_announces_cancelled_and_refunded(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_endpoint(client, demo, URL, (ORDER_CANCELLED, ORDER_REFUNDED))
    code, _ = await buy_online(client, demo, adults=2, children=0)
    first, second = await tickets_of(db_settings, code)
    partly = await _cancel(client, demo, code, {"ticket_ids": [first.id]})
    assert partly["order_status"] == OrderStatus.PAID
    assert [t for t, _ in await recorded_events(db_settings)] == [ORDER_REFUNDED]
    rest = await _cancel(client, demo, code, {})
    assert rest["order_status"] == OrderStatus.CANCELLED
    events = await recorded_events(db_settings)
    assert [t for t, _ in events] == [ORDER_REFUNDED, ORDER_CANCELLED, ORDER_REFUNDED]
    cancelled, refunded = events[1][1], events[2][1]
    assert cancelled == {
        "order_code": code,
        "total": 4000,
        "currency": "JPY",
        "ticket_ids": [second.id],
        "refund_amount": rest["refund_amount"],
    }
    assert refunded["reason"] == "cancellation" and refunded["state"] == "refunded"
    assert refunded["refund_id"] == rest["refund"]["id"]
    assert refunded["amount"] == rest["refund_amount"] > 0


async def test_a_kiosk_refund_is_announced_when_paid_out_in_person(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    await add_endpoint(client, demo, URL, (ORDER_REFUNDED,))
    code = (await kiosk_sale(client, demo, kiosk_headers))["order"]["code"]
    cancelled = await _cancel(client, demo, code, {"waive_fee": False})
    assert cancelled["refund"]["state"] == "owed"
    assert await recorded_events(db_settings) == []  # owed is not refunded yet
    response = await client.post(
        f"/api/v1/refunds/{cancelled['refund']['id']}/paid-out",
        headers=await staff_headers(client, demo, "staff"),
    )
    assert response.status_code == 200, response.text
    ((event_type, data),) = await recorded_events(db_settings)
    assert (event_type, data["state"], data["order_code"]) == (ORDER_REFUNDED, "paid_out", code)


async def test_money_that_paid_nothing_is_announced_when_given_back(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _ = await buy_online(client, demo)
    await add_endpoint(client, demo, URL, (ORDER_REFUNDED,))
    ((payment_id, amount),) = await query(db_settings, sa.select(Payment.id, Payment.amount))

    async def owe_and_give_back(session: Any) -> str:
        # As if the money had arrived for an order it could not pay.
        await session.execute(sa.update(Payment).values(state="refund_due"))
        await session.commit()
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        payment, error = await give_back(session, tenant, payment_id, settings=db_settings)
        return f"{payment.state}{error}"

    assert await run_in_session(db_settings, owe_and_give_back) == "refunded"
    ((event_type, data),) = await recorded_events(db_settings)
    assert event_type == ORDER_REFUNDED
    assert data == {
        "order_code": code,
        "amount": amount,
        "currency": "JPY",
        "reason": "refund_due",
        "state": "refunded",
        "refund_id": None,
        "payment_id": payment_id,
    }


async def test_each_ticket_a_scan_uses_is_announced_and_exits_are_not(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, adults=2, children=0, days_ahead=0)
    await add_endpoint(client, demo, URL, (TICKET_REDEEMED,))
    page = (await client.get(order_path(demo, code, key))).text
    token = group_token_of(page)
    assert token is not None
    assert (await scan(client, gate_headers, token))["admitted_count"] == 2
    assert (await scan(client, gate_headers, token, "exit"))["admitted"]
    assert (await scan(client, gate_headers, token))["result"] == "already_used"
    tickets = await tickets_of(db_settings, code)
    events = await recorded_events(db_settings)
    assert [t for t, _ in events] == [TICKET_REDEEMED, TICKET_REDEEMED]
    assert [d["ticket_id"] for _, d in events] == [t.id for t in tickets]
    assert all(d["order_code"] == code and d["direction"] == "entry" for _, d in events)
    assert {d["uses_left"] for _, d in events} == {0}
    assert all(d["product_code"] == "day" and d["gate_id"] for _, d in events)


async def test_rides_and_reentries_that_take_no_use_are_not_announced(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    code, key = await buy_online(client, demo, adults=1, children=0, days_ahead=0)
    await add_endpoint(client, demo, URL, (TICKET_REDEEMED,))
    (token,) = data_tokens((await client.get(order_path(demo, code, key))).text)
    passes = ("entry", "ride", "exit", "entry", "ride")
    results = [(await scan(client, gate_headers, token, d))["result"] for d in passes]
    assert results == ["admitted"] * len(passes)
    events = await recorded_events(db_settings)
    assert [(t, d["direction"]) for t, d in events] == [(TICKET_REDEEMED, "entry")]


def test_the_docs_name_every_event_and_field() -> None:
    """docs/webhooks.md tables each event type with the fields its payload has."""
    text = (REPO_ROOT / "docs" / "webhooks.md").read_text()
    builders = {
        ORDER_PAID: payloads.order_paid,
        ORDER_CANCELLED: payloads.order_cancelled,
        ORDER_REFUNDED: payloads.order_refunded,
        TICKET_REDEEMED: payloads.ticket_redeemed,
        PASS_ISSUED: payloads.pass_issued,
    }
    assert set(builders) == set(EVENT_TYPES)
    for event_type, build in builders.items():
        assert f"### `{event_type}`" in text, event_type
        source = inspect.getsource(build)
        section = text.split(f"### `{event_type}`", 1)[1].split("\n### ", 1)[0]
        for key in re.findall(r'"(\w+)":', source):
            assert f"`{key}`" in section, (event_type, key)
