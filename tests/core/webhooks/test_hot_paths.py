"""The transactional outbox on the benchmarked paths (kiosk sale, gate scan): without a
subscriber an event costs no statement at all (the cached facility knows), with one the
event and its deliveries commit or roll back with the sale or scan itself. SQLite and
PostgreSQL (where a subscribed sale takes the receipt path and one driver transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Capacity, CheckIn, Order, Ticket, WebhookDelivery, WebhookEvent
from core_service.orders import sale_statement
from core_service.platform.settings import Settings
from core_service.webhooks import outbox
from kippu_contract.webhooks import ORDER_CANCELLED, ORDER_PAID, TICKET_REDEEMED
from tests.support.aftersales import scan
from tests.support.web import query
from tests.support.webhooks import add_endpoint, kiosk_order, kiosk_sale, recorded_events

URL = "https://erp.example/hooks"


@pytest.fixture
async def watched(
    db_settings: Settings, demo: DemoFacility
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], list[str]]]:
    """A client of the app and every statement the app's engine runs."""
    app = create_app(db_settings, background=False)
    seen: list[str] = []
    async with AsyncTestClient(app=app) as client:
        sa.event.listen(
            app.state.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_a: seen.append(statement),
        )
        yield client, seen


async def _statements_of_warm_sale_and_scan(
    client: AsyncTestClient[Litestar],
    seen: list[str],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> tuple[list[str], list[str]]:
    """Statements of a kiosk sale and of a gate scan, with the facility cached already."""
    warm = await kiosk_sale(client, demo, kiosk_headers)
    await scan(client, gate_headers, warm["tickets"][0]["qr_token"])
    seen.clear()
    sale = await kiosk_sale(client, demo, kiosk_headers)
    sold = list(seen)
    seen.clear()
    await scan(client, gate_headers, sale["tickets"][0]["qr_token"])
    return sold, list(seen)


async def test_without_a_subscriber_sales_and_scans_run_no_extra_statement(
    watched: tuple[AsyncTestClient[Litestar], list[str]],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, seen = watched
    calls: list[str] = []
    for name in ("write", "write_on_driver"):
        monkeypatch.setattr(outbox, name, lambda *_a, _n=name, **_k: calls.append(_n))
    one_statement = sale_statement.take_and_write_order

    async def taking(*args: Any) -> sale_statement.Taken:
        calls.append("one statement")
        return await one_statement(*args)

    monkeypatch.setattr(sale_statement, "take_and_write_order", taking)
    before = await _statements_of_warm_sale_and_scan(
        client, seen, demo, kiosk_headers, gate_headers
    )
    # An endpoint for another event: the same statements as with none at all.
    await add_endpoint(client, demo, URL, (ORDER_CANCELLED,))
    after = await _statements_of_warm_sale_and_scan(client, seen, demo, kiosk_headers, gate_headers)
    assert after == before
    assert not [s for s in before[0] + before[1] if "webhook" in s]
    assert await recorded_events(db_settings) == []
    # PostgreSQL's onsale statement runs as before (its driver's statements are not seen).
    expected = ["one statement"] * 4 if not db_settings.is_sqlite else []
    assert calls == expected


async def test_with_a_subscriber_the_sale_and_scan_write_their_events(
    watched: tuple[AsyncTestClient[Litestar], list[str]],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    client, seen = watched
    await add_endpoint(client, demo, URL, (ORDER_PAID, TICKET_REDEEMED))
    sold, scanned = await _statements_of_warm_sale_and_scan(
        client, seen, demo, kiosk_headers, gate_headers
    )
    if db_settings.is_sqlite:  # PostgreSQL writes the sale's events through the driver
        assert [s for s in sold if "webhook_event" in s]
    assert [s for s in scanned if "webhook_event" in s]
    # Nobody asked the database who subscribes: the cached facility knew.
    assert not [s for s in sold + scanned if "FROM webhook_endpoint" in s and "INSERT" not in s]
    assert [t for t, _ in await recorded_events(db_settings)] == [ORDER_PAID, TICKET_REDEEMED] * 2


class Boom(Exception):
    """The outbox's write failing (a crash between the sale's statements)."""


def _failing(*_args: Any, **_kwargs: Any) -> Any:
    raise Boom("the event could not be written")


async def _counts(settings: Settings) -> dict[str, int]:
    counted = {}
    for model in (Order, Ticket, CheckIn, WebhookEvent, WebhookDelivery):
        rows = await query(settings, sa.select(sa.func.count()).select_from(model))
        counted[model.__tablename__] = int(rows[0][0])
    sold = await query(settings, sa.select(sa.func.coalesce(sa.func.sum(Capacity.sold), 0)))
    counted["sold"] = int(sold[0][0])
    return counted


async def test_a_sale_whose_events_cannot_be_written_is_not_made(
    client: AsyncTestClient[Litestar],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_endpoint(client, demo, URL, (ORDER_PAID,))
    await kiosk_sale(client, demo, kiosk_headers)
    counts = await _counts(db_settings)
    monkeypatch.setattr(outbox, "write", _failing)  # the ORM writer's (SQLite)
    monkeypatch.setattr(outbox, "write_on_driver", _failing)  # the statement's (PostgreSQL)
    response = await kiosk_order(client, demo, kiosk_headers)
    assert response.status_code == 500
    assert await _counts(db_settings) == counts  # no order, no places taken, no event


async def test_a_scan_whose_events_cannot_be_written_admits_nobody(
    client: AsyncTestClient[Litestar],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_endpoint(client, demo, URL, (TICKET_REDEEMED,))
    token = (await kiosk_sale(client, demo, kiosk_headers))["tickets"][0]["qr_token"]
    counts = await _counts(db_settings)
    monkeypatch.setattr(outbox, "write", _failing)
    response = await client.post(
        "/api/v1/gate/scan", json={"token": token, "direction": "entry"}, headers=gate_headers
    )
    assert response.status_code == 500
    assert await _counts(db_settings) == counts
    monkeypatch.undo()
    assert (await scan(client, gate_headers, token))["admitted"]  # still unused
    assert [t for t, _ in await recorded_events(db_settings)] == [TICKET_REDEEMED]


async def test_a_refused_sale_announces_nothing(
    client: AsyncTestClient[Litestar],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    await add_endpoint(client, demo, URL, (ORDER_PAID,))
    response = await kiosk_order(client, demo, kiosk_headers, amount=1)  # not the price
    assert response.status_code == 409
    assert await recorded_events(db_settings) == []
