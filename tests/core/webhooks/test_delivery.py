"""Delivering webhooks to a real HTTP receiver on loopback: signed so the contract helper
verifies them, in event order per endpoint, exactly once even with two workers at once,
retried with back-off after a failure, given up after the last attempt, sent again after
a killed worker's lease lapses, and never to private addresses unless allowed. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa

from core_service.models import WebhookAttempt, WebhookDelivery, utcnow
from core_service.webhooks.delivery import backoff
from kippu_contract.webhooks import ORDER_PAID, TICKET_REDEEMED
from tests.support.aftersales import scan, staff_headers
from tests.support.web import query, run_in_session
from tests.support.webhooks import Hooked, Receiver, delivery_states


async def _set_deliveries(hooked: Hooked, **values: Any) -> None:
    """Change every delivery as time or a dead worker would have."""

    async def work(session: Any) -> None:
        await session.execute(sa.update(WebhookDelivery).values(**values))
        await session.commit()

    await run_in_session(hooked.db_settings, work)


async def _make_due(hooked: Hooked) -> None:
    """As if the back-off had passed: every delivery is due now."""
    await _set_deliveries(hooked, next_attempt_at=utcnow() - dt.timedelta(seconds=1))


async def test_events_arrive_signed_in_order_and_once(
    hooked: Hooked, gate_headers: dict[str, str]
) -> None:
    sale = await hooked.sale()
    await scan(hooked.client, gate_headers, sale["tickets"][0]["qr_token"])
    assert await hooked.deliver() == 2
    receiver = hooked.receiver
    got = receiver.accepted()
    assert [r.refusal for r in receiver.received] == ["", ""]  # the contract helper verified
    assert [r.type for r in got] == [ORDER_PAID, TICKET_REDEEMED]
    paid, redeemed = got[0].data, got[1].data
    assert paid["order_code"] == sale["order"]["code"] and paid["total"] == 2000
    assert paid["ticket_ids"] == [t["id"] for t in sale["tickets"]]
    assert redeemed["ticket_id"] == sale["tickets"][0]["id"]
    assert redeemed["order_code"] == sale["order"]["code"]
    assert all(r.headers["Kippu-Event-Id"] == r.event_id for r in got)
    assert await hooked.deliver() == 0  # nothing twice
    assert len(receiver.received) == 2
    assert await delivery_states(hooked.db_settings) == [("delivered", 1), ("delivered", 1)]


async def test_a_failing_receiver_is_retried_with_back_off_then_gets_the_event_once(
    hooked: Hooked,
) -> None:
    receiver = hooked.receiver
    receiver.script = [500]
    await hooked.sale()
    before = utcnow()
    assert await hooked.deliver(webhook_retry_seconds=0.5) == 0
    ((status, attempts, next_at, code, error),) = await query(
        hooked.db_settings,
        sa.select(
            WebhookDelivery.status,
            WebhookDelivery.attempts,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.last_status_code,
            WebhookDelivery.last_error,
        ),
    )
    assert (status, attempts, code, error) == ("pending", 1, 500, "HTTP 500")
    assert before + dt.timedelta(seconds=0.5) <= next_at <= utcnow() + dt.timedelta(seconds=0.5)
    assert await hooked.deliver(webhook_retry_seconds=0.5) == 0  # backing off: nothing sent
    assert len(receiver.received) == 1
    await asyncio.sleep(0.6)
    assert await hooked.deliver(webhook_retry_seconds=0.5) == 1
    assert [r.status for r in receiver.received] == [500, 200]
    assert receiver.received[0].event_id == receiver.received[1].event_id
    assert len(receiver.accepted()) == 1
    attempts_logged = await query(
        hooked.db_settings,
        sa.select(WebhookAttempt.number, WebhookAttempt.status_code).order_by(WebhookAttempt.id),
    )
    assert [tuple(a) for a in attempts_logged] == [(1, 500), (2, 200)]
    assert await delivery_states(hooked.db_settings) == [("delivered", 2)]


def test_the_back_off_doubles_up_to_six_hours() -> None:
    assert [backoff(n, 30).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30, 30) == dt.timedelta(hours=6)


async def test_an_endpoint_gets_its_events_in_order_behind_a_failure(hooked: Hooked) -> None:
    hooked.receiver.script = [503]
    codes = await hooked.sales(3)
    assert await hooked.deliver() == 0  # the first failed; the later two wait behind it
    assert len(hooked.receiver.received) == 1
    await _make_due(hooked)
    assert await hooked.deliver() == 3
    assert [r.data["order_code"] for r in hooked.receiver.accepted()] == codes


async def test_two_workers_at_once_deliver_every_event_exactly_once(
    hooked: Hooked, second_receiver: Receiver
) -> None:
    await hooked.subscribe(second_receiver)
    hooked.receiver.delay = second_receiver.delay = 0.05  # the two runs overlap
    codes = await hooked.sales(4)
    results = list(await asyncio.gather(hooked.deliver(), hooked.deliver()))
    while sum(results) < 8:  # a worker stops at an endpoint the other one holds
        results.append(await hooked.deliver())
    assert sum(results) == 8
    for got in (hooked.receiver, second_receiver):
        assert Counter(r.event_id for r in got.received).most_common(1)[0][1] == 1
        assert [r.data["order_code"] for r in got.accepted()] == codes
    assert {s for s, _ in await delivery_states(hooked.db_settings)} == {"delivered"}


async def test_a_delivery_is_given_up_after_the_last_attempt(hooked: Hooked) -> None:
    hooked.receiver.script = [500, 502]
    first, second = await hooked.sales(2)
    assert await hooked.deliver(webhook_max_attempts=2) == 0
    await _make_due(hooked)
    # The second attempt fails too: given up, and the endpoint's next event goes.
    assert await hooked.deliver(webhook_max_attempts=2) == 1
    assert await delivery_states(hooked.db_settings) == [("failed", 2), ("delivered", 1)]
    assert [r.data["order_code"] for r in hooked.receiver.accepted()] == [second]
    failed = {r.data["order_code"] for r in hooked.receiver.received if r.status >= 500}
    assert failed == {first}


async def test_a_killed_workers_claim_is_sent_again_once_its_lease_lapses(hooked: Hooked) -> None:
    await hooked.sale()
    claimed = {"status": "sending", "attempts": 1}
    await _set_deliveries(hooked, **claimed, lease_until=utcnow() + dt.timedelta(minutes=1))
    assert await hooked.deliver() == 0  # the lease still holds
    assert hooked.receiver.received == []
    await _set_deliveries(hooked, **claimed, lease_until=utcnow() - dt.timedelta(seconds=1))
    assert await hooked.deliver() == 1
    assert len(hooked.receiver.accepted()) == 1
    assert await delivery_states(hooked.db_settings) == [("delivered", 2)]


async def test_private_addresses_are_refused_unless_allowed(hooked: Hooked) -> None:
    await hooked.sale()
    assert await hooked.deliver(webhook_allow_private_targets=False) == 0
    assert hooked.receiver.received == []  # refused before connecting
    ((error, code),) = await query(
        hooked.db_settings, sa.select(WebhookDelivery.last_error, WebhookDelivery.last_status_code)
    )
    assert "127.0.0.1" in error and "not a public address" in error and code is None


async def test_a_switched_off_endpoint_gets_nothing_until_switched_on(hooked: Hooked) -> None:
    await hooked.sale()
    headers = await staff_headers(hooked.client, hooked.demo, "manager")
    path = f"/api/v1/webhooks/endpoints/{hooked.endpoint_id}"
    await hooked.client.patch(path, json={"active": False}, headers=headers)
    await hooked.sale()  # no delivery for a switched-off endpoint
    assert await hooked.deliver() == 0
    await hooked.client.patch(path, json={"active": True}, headers=headers)
    assert await hooked.deliver() == 1  # the first sale's, held while off
    assert len(hooked.receiver.accepted()) == 1
