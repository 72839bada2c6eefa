"""Staff cancellations (F6, F7): single tickets or whole orders, the policy's fee, refunds
through the provider exactly once, capacity back, the gate refusing at once, the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, Cancellation, Capacity, PriceCategory, Refund, Ticket
from core_service.payments.provider import ProviderUnavailable
from core_service.platform.settings import Settings
from kippu_plugins.demo_payments import DemoProvider
from tests.support.aftersales import (
    buy_online,
    data_tokens,
    order_path,
    order_row,
    scan,
    staff_headers,
    tickets_of,
    update_facility_settings,
)
from tests.support.web import query, run_in_session


async def _cancel(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    code: str,
    body: dict[str, Any] | None = None,
    *,
    role: str = "staff",
    key: str | None = None,
) -> Any:
    headers = {
        **await staff_headers(client, demo, role),
        "Idempotency-Key": key or str(uuid.uuid4()),
    }
    return await client.post(f"/api/v1/orders/{code}/cancel", json=body or {}, headers=headers)


async def _sold(settings: Settings) -> int:
    return sum(r[0] for r in await query(settings, sa.select(Capacity.sold)))


async def test_cancelling_one_ticket_refunds_its_price_and_returns_its_place(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    tickets = await tickets_of(db_settings, code)
    assert await _sold(db_settings) == 3
    response = await _cancel(client, demo, code, {"ticket_ids": [tickets[0].id]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["refund_amount"], body["fee"], body["order_status"]) == (2000, 0, "paid")
    assert body["refund"]["state"] == "refunded" and body["refund"]["provider_ref"].startswith(
        "demo_refund_"
    )
    assert [t.status for t in await tickets_of(db_settings, code)] == [
        "cancelled",
        "valid",
        "valid",
    ]
    assert await _sold(db_settings) == 2


async def test_cancelling_the_whole_order(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    body = (await _cancel(client, demo, code, {"reason": "雨天"})).json()
    assert (body["order_status"], body["refund_amount"]) == ("cancelled", 5000)
    assert {t.status for t in await tickets_of(db_settings, code)} == {"cancelled"}
    assert (await order_row(db_settings, code)).cancelled_at is not None
    assert await _sold(db_settings) == 0


async def test_cancelled_ticket_is_refused_at_the_gate_at_once(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = data_tokens((await client.get(order_path(demo, code, key))).text)[0]
    first = (await tickets_of(db_settings, code))[0]
    await _cancel(client, demo, code, {"ticket_ids": [first.id]})
    result = await scan(client, gate_headers, token)
    assert (result["result"], result["admitted"]) == ("cancelled", False)


async def test_a_retried_cancellation_refunds_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    first = (await tickets_of(db_settings, code))[0]
    one = await _cancel(client, demo, code, {"ticket_ids": [first.id]}, key="double-click")
    two = await _cancel(client, demo, code, {"ticket_ids": [first.id]}, key="double-click")
    assert (one.status_code, two.status_code) == (200, 200)
    assert two.json()["id"] == one.json()["id"] and two.json()["replayed"] is True
    assert len(await query(db_settings, sa.select(Refund.id))) == 1
    sent = await query(db_settings, sa.select(AuditLog.id).where(AuditLog.action == "refund.sent"))
    assert len(sent) == 1


async def test_concurrent_double_clicks_cancel_and_refund_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    headers = {**await staff_headers(client, demo), "Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/orders/{code}/cancel", json={}, headers=headers) for _ in range(3))
    )
    ids = {r.json()["id"] for r in responses if r.status_code == 200}
    assert len(ids) == 1, [r.text for r in responses]
    assert len(await query(db_settings, sa.select(Cancellation.id))) == 1
    assert len(await query(db_settings, sa.select(Refund.id))) == 1


@pytest.mark.parametrize(
    ("fees", "days_ahead", "expected_fee"),
    [
        ([{"days_before": 7, "percent": 0}, {"days_before": 2, "percent": 20}], 3, 400),
        ([{"days_before": 7, "percent": 0}, {"days_before": 2, "percent": 20}], 10, 0),
        ([{"days_before": 0, "fixed": 500}], 3, 500),
    ],
)
async def test_the_policys_fee_is_kept(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    fees: list[dict[str, int]],
    days_ahead: int,
    expected_fee: int,
) -> None:
    await update_facility_settings(db_settings, demo.facility_id, cancellation={"fees": fees})
    code, _key = await buy_online(client, demo, adults=1, children=0, days_ahead=days_ahead)
    body = (await _cancel(client, demo, code)).json()
    assert (body["fee"], body["refund_amount"]) == (expected_fee, 2000 - expected_fee)
    assert body["refund"]["amount"] == 2000 - expected_fee


async def test_an_arbitrary_partial_refund_is_refused(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    """F7: a 2,000 yen ticket without a handling fee cannot be refunded as 1,800."""
    code, _key = await buy_online(client, demo, adults=1, children=0)
    refused = await _cancel(client, demo, code, {"refund_amount": 1800})
    assert refused.status_code == 409 and refused.json()["refund_amount"] == 2000
    assert {t.status for t in await tickets_of(db_settings, code)} == {"valid"}
    assert await query(db_settings, sa.select(Refund.id)) == []


async def test_base_price_is_refunded_and_the_handling_fee_kept(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    """F7: 1,800 + 200 handling fee, refunded as 1,800: allowed."""

    async def with_fee(session: Any) -> None:
        category = await session.get(PriceCategory, demo.adult_category_id)
        category.price, category.handling_fee = 1800, 200
        await session.commit()

    await run_in_session(db_settings, with_fee)
    code, _key = await buy_online(client, demo, adults=1, children=0)
    assert (await order_row(db_settings, code)).total == 2000
    body = (await _cancel(client, demo, code, {"refund_amount": 1800})).json()
    assert (body["refund_amount"], body["handling_fee_kept"], body["fee"]) == (1800, 200, 0)


async def test_after_the_visit_date_nothing_is_refunded(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo, adults=1, children=0, days_ahead=0)

    async def yesterday(session: Any) -> None:
        # Move the visit into the past rather than the clock forward.
        for ticket in await session.scalars(sa.select(Ticket)):
            ticket.valid_from -= dt.timedelta(days=1)
            ticket.valid_until -= dt.timedelta(days=1)
        await session.commit()

    await run_in_session(db_settings, yesterday)
    body = (await _cancel(client, demo, code)).json()
    assert (body["fee"], body["refund_amount"], body["refund"]) == (2000, 0, None)


async def test_waiving_the_fee_needs_a_manager(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await update_facility_settings(
        db_settings, demo.facility_id, cancellation={"fees": [{"days_before": 0, "percent": 50}]}
    )
    code, _key = await buy_online(client, demo, adults=1, children=0)
    assert (await _cancel(client, demo, code, {"waive_fee": True})).status_code == 403
    body = (await _cancel(client, demo, code, {"waive_fee": True}, role="manager")).json()
    assert (body["fee"], body["refund_amount"]) == (0, 2000)


async def test_viewers_cannot_cancel(client: AsyncTestClient[Any], demo: DemoFacility) -> None:
    code, _key = await buy_online(client, demo)
    assert (await _cancel(client, demo, code, role="viewer")).status_code == 403


async def test_used_tickets_cannot_be_cancelled(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = data_tokens((await client.get(order_path(demo, code, key))).text)[0]
    await scan(client, gate_headers, token)
    used = (await tickets_of(db_settings, code))[0]
    refused = await _cancel(client, demo, code, {"ticket_ids": [used.id]})
    assert refused.status_code == 409
    # Cancelling "everything" leaves the used ticket sold.
    body = (await _cancel(client, demo, code)).json()
    assert used.id not in body["ticket_ids"] and len(body["ticket_ids"]) == 2


async def test_quote_shows_the_refund_before_cancelling(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await update_facility_settings(
        db_settings, demo.facility_id, cancellation={"fees": [{"days_before": 0, "percent": 10}]}
    )
    code, _key = await buy_online(client, demo)
    quote = await client.get(
        f"/api/v1/orders/{code}/cancellation-quote", headers=await staff_headers(client, demo)
    )
    assert quote.status_code == 200
    assert (quote.json()["fee"], quote.json()["refund_amount"]) == (500, 4500)
    assert {t.status for t in await tickets_of(db_settings, code)} == {"valid"}


async def test_kiosk_terminal_refund_is_owed_in_person(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    sold = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-1", "amount": 2000},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert sold.status_code == 201, sold.text
    body = (await _cancel(client, demo, sold.json()["order"]["code"])).json()
    refund = body["refund"]
    assert (refund["state"], refund["amount"], refund["provider_ref"]) == ("owed", 2000, "")
    paid = await client.post(
        f"/api/v1/refunds/{refund['id']}/paid-out", headers=await staff_headers(client, demo)
    )
    assert paid.json()["state"] == "paid_out"


async def test_a_failed_refund_is_retried_with_the_same_key(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _key = await buy_online(client, demo)
    keys: list[str] = []
    original = DemoProvider.refund

    async def down(
        self: DemoProvider, ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> Any:
        keys.append(idempotency_key)
        raise ProviderUnavailable()

    monkeypatch.setattr(DemoProvider, "refund", down)
    body = (await _cancel(client, demo, code)).json()
    assert body["refund"]["state"] == "failed" and body["order_status"] == "cancelled"

    async def up(
        self: DemoProvider, ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> Any:
        keys.append(idempotency_key)
        return await original(self, ref, amount, idempotency_key=idempotency_key, reason=reason)

    monkeypatch.setattr(DemoProvider, "refund", up)
    retried = await client.post(
        f"/api/v1/refunds/{body['refund']['id']}/retry", headers=await staff_headers(client, demo)
    )
    assert retried.json()["state"] == "refunded" and retried.json()["attempts"] == 2
    assert len(keys) == 2 and keys[0] == keys[1]
    again = await client.post(
        f"/api/v1/refunds/{body['refund']['id']}/retry", headers=await staff_headers(client, demo)
    )
    assert again.json()["attempts"] == 2 and len(keys) == 2  # done: no third call


async def test_every_cancellation_and_refund_is_audited(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    first = (await tickets_of(db_settings, code))[0]
    await _cancel(client, demo, code, {"ticket_ids": [first.id]})
    await _cancel(client, demo, code)
    actions = [
        r[0] for r in await query(db_settings, sa.select(AuditLog.action).order_by(AuditLog.id))
    ]
    assert actions.count("tickets.cancelled") == 1 and actions.count("order.cancelled") == 1
    assert actions.count("refund.created") == 2 and actions.count("refund.sent") == 2
