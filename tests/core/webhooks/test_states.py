"""The webhook delivery state machine (``webhooks.states``): each transition's allowed and
refused moves, repeats, other facilities, the endpoint's order and the lease."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import WebhookDelivery, WebhookEndpoint, utcnow
from core_service.platform.settings import Settings
from core_service.webhooks import states
from kippu_contract.webhooks import ORDER_PAID
from tests.support.web import run_in_session
from tests.support.webhooks import add_endpoint, kiosk_sale

#: After every delivery the tests make (they are due at once).
NOW = utcnow() + dt.timedelta(hours=1)
LEASE = NOW + dt.timedelta(minutes=1)


async def _two_deliveries(
    client: AsyncTestClient[Any], demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    await add_endpoint(client, demo, "https://erp.example/hooks", (ORDER_PAID,))
    await kiosk_sale(client, demo, kiosk_headers)
    await kiosk_sale(client, demo, kiosk_headers)


async def _ids(session: Any) -> list[int]:
    return list(await session.scalars(sa.select(WebhookDelivery.id).order_by(WebhookDelivery.id)))


async def test_claim_takes_only_the_endpoints_next_due_delivery_once(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    await _two_deliveries(client, demo, kiosk_headers)
    f = demo.facility_id

    async def work(session: Any) -> None:
        first, second = await _ids(session)
        assert not await states.claim(session, f, second, now=NOW, lease_until=LEASE)  # in order
        assert not await states.claim(session, f + 1, first, now=NOW, lease_until=LEASE)
        early = NOW - dt.timedelta(hours=2)  # before it was due
        assert not await states.claim(session, f, first, now=early, lease_until=LEASE)
        assert await states.claim(session, f, first, now=NOW, lease_until=LEASE)
        assert not await states.claim(session, f, first, now=NOW, lease_until=LEASE)  # repeat
        assert not await states.claim(session, f, second, now=NOW, lease_until=LEASE)  # behind
        # The lease lapsed (a killed worker): claimed again, a second attempt.
        later = LEASE + dt.timedelta(seconds=1)
        assert await states.claim(session, f, first, now=later, lease_until=later + (LEASE - NOW))
        row = await session.get(WebhookDelivery, first)
        await session.refresh(row)
        assert (row.status, row.attempts) == ("sending", 2)

    await run_in_session(db_settings, work)


async def test_only_the_claim_that_made_the_attempt_settles_it(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    await _two_deliveries(client, demo, kiosk_headers)
    f = demo.facility_id

    async def work(session: Any) -> None:
        first, second = await _ids(session)
        assert not await states.delivered(session, f, first, 1, status_code=200, now=NOW)
        assert await states.claim(session, f, first, now=NOW, lease_until=LEASE)
        assert not await states.delivered(session, f, first, 2, status_code=200, now=NOW)
        assert not await states.delivered(session, f + 1, first, 1, status_code=200, now=NOW)
        retry_at = NOW + dt.timedelta(seconds=30)
        assert await states.retry(
            session, f, first, 1, status_code=500, error="HTTP 500", next_attempt_at=retry_at
        )
        assert not await states.give_up(session, f, first, 1, status_code=500, error="again")
        assert await states.claim(session, f, first, now=retry_at, lease_until=LEASE)
        assert await states.give_up(session, f, first, 2, status_code=None, error="timeout")
        # Given up: the endpoint's next event may go now.
        assert await states.claim(session, f, second, now=NOW, lease_until=LEASE)
        assert await states.delivered(session, f, second, 1, status_code=204, now=NOW)
        assert not await states.retry(
            session, f, second, 1, status_code=500, error="late", next_attempt_at=NOW
        )
        rows = (
            await session.execute(
                sa.select(WebhookDelivery.status, WebhookDelivery.last_status_code).order_by(
                    WebhookDelivery.id
                )
            )
        ).all()
        assert [tuple(r) for r in rows] == [("failed", None), ("delivered", 204)]

    await run_in_session(db_settings, work)


async def test_a_switched_off_endpoints_deliveries_are_not_claimed(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    await _two_deliveries(client, demo, kiosk_headers)

    async def work(session: Any) -> None:
        first, _ = await _ids(session)
        await session.execute(sa.update(WebhookEndpoint).values(active=False))
        assert not await states.claim(session, demo.facility_id, first, now=NOW, lease_until=LEASE)

    await run_in_session(db_settings, work)
