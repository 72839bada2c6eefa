"""The everyday scan (core_service.checkin.redeem): same answers, same log, once only.

Run on SQLite and PostgreSQL: on PostgreSQL these scans take the two-statement path, on
SQLite the general one, and both must answer and log alike.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import CheckIn, Device, Ticket
from core_service.orders import states as order_states
from core_service.platform.settings import Settings
from kippu_contract.states import TicketStatus
from tests.support.aftersales import scan
from tests.support.live_server import serve
from tests.support.web import query, run_in_session


async def _buy(
    client: AsyncTestClient[Any], kiosk_headers: dict[str, str], category: int, price: int
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "everyday", "amount": price},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()["tickets"][0]
    return ticket


async def _checkins(settings: Settings, ticket_id: int) -> list[tuple[Any, ...]]:
    rows = await query(
        settings,
        sa.select(CheckIn.result, CheckIn.direction, CheckIn.device_id, CheckIn.facility_id)
        .where(CheckIn.ticket_id == ticket_id)
        .order_by(CheckIn.id),
    )
    return [tuple(r) for r in rows]


async def _ticket_column(settings: Settings, column: Any, ticket_id: int) -> Any:
    return (await query(settings, sa.select(column).where(Ticket.id == ticket_id)))[0][0]


async def test_admitted_and_refused_scans_are_each_logged_with_the_gate(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await _buy(client, kiosk_headers, demo.adult_category_id, 2000)
    sold_seq = await _ticket_column(db_settings, Ticket.export_seq, ticket["id"])
    first = await scan(client, gate_headers, ticket["qr_token"])
    second = await scan(client, gate_headers, ticket["qr_token"])
    assert (first["result"], first["ticket"]["uses_left"]) == ("admitted", 0)
    assert (second["result"], second["ticket"]["uses_left"]) == ("already_used", 0)
    assert first["ticket"]["product_name_en"] == "Day ticket"
    assert first["ticket"]["product_name_ja"] == "1日入園券"
    gate = (
        await query(
            db_settings,
            sa.select(Device.id).where(
                Device.facility_id == demo.facility_id, Device.kind == "gate"
            ),
        )
    )[0][0]
    assert await _checkins(db_settings, ticket["id"]) == [
        ("admitted", "entry", gate, demo.facility_id),
        ("already_used", "entry", gate, demo.facility_id),
    ]
    # Both rows carry an export_seq and the used ticket a newer one: the next export
    # picks up the scans and the ticket's new state.
    sequenced = await query(
        db_settings, sa.select(CheckIn.export_seq).where(CheckIn.ticket_id == ticket["id"])
    )
    assert [seq is not None for (seq,) in sequenced] == [True, True]
    assert await _ticket_column(db_settings, Ticket.export_seq, ticket["id"]) > sold_seq


async def test_a_coupon_book_answers_the_uses_left_after_each_ride(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await _buy(client, kiosk_headers, demo.coupon_category_id, 3000)
    answers = [await scan(client, gate_headers, ticket["qr_token"], "ride") for _ in range(2)]
    assert [a["ticket"]["uses_left"] for a in answers] == [9, 8]
    assert [a["admitted_count"] for a in answers] == [1, 1]


async def test_a_cancelled_ticket_is_refused_and_logged(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await _buy(client, kiosk_headers, demo.adult_category_id, 2000)

    async def cancel(session: AsyncSession) -> bool:
        cancelled = await order_states.cancel_ticket(session, demo.facility_id, ticket["id"])
        await session.commit()
        return cancelled

    assert await run_in_session(db_settings, cancel)
    answer = await scan(client, gate_headers, ticket["qr_token"])
    status = await _ticket_column(db_settings, Ticket.status, ticket["id"])
    assert (answer["result"], answer["admitted"]) == ("cancelled", False)
    assert answer["message_en"] == "Ticket cancelled" and answer["message_ja"]
    assert status == TicketStatus.CANCELLED
    assert [r[0] for r in await _checkins(db_settings, ticket["id"])] == ["cancelled"]


async def test_a_superseded_token_admits_nobody(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    """A ticket handed on gets a new secret version: the old QR token stops working."""
    ticket = await _buy(client, kiosk_headers, demo.adult_category_id, 2000)

    async def hand_on(session: AsyncSession) -> None:
        await session.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket["id"])
            .values(secret_version=Ticket.secret_version + 1)
        )
        await session.commit()

    await run_in_session(db_settings, hand_on)
    answer = await scan(client, gate_headers, ticket["qr_token"])
    left = await _ticket_column(db_settings, Ticket.uses_left, ticket["id"])
    assert answer["result"] == "invalid"
    assert left == 1


async def test_two_gates_scanning_one_ticket_at_once_admit_it_once(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    if not db_settings.database_url.startswith("postgresql"):
        pytest.skip("concurrent gates are a PostgreSQL deployment")
    tickets = [await _buy(client, kiosk_headers, demo.adult_category_id, 2000) for _ in range(5)]
    # A real server: the in-process test client runs one request at a time.
    with serve(create_app(db_settings, background=False)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=gate_headers) as http:
            responses = await asyncio.gather(
                *(
                    http.post("/api/v1/gate/scan", json={"token": t["qr_token"]})
                    for t in tickets
                    for _ in range(4)
                )
            )
    assert [r.status_code for r in responses] == [200] * 20
    for i, ticket in enumerate(tickets):
        results = sorted(r.json()["result"] for r in responses[4 * i : 4 * i + 4])
        assert results == ["admitted"] + ["already_used"] * 3
        logged = sorted(r[0] for r in await _checkins(db_settings, ticket["id"]))
        assert logged == ["admitted"] + ["already_used"] * 3
