"""Group reception (F3): one scan of the order's group code admits every unused admission
ticket of the order, each with its own check-in row, and says how many."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import CheckIn, Order, TicketTransfer
from core_service.platform.settings import Settings
from kippu_contract.tokens import (
    KIND_ORDER_GROUP,
    TokenClaim,
    generate_signing_key,
    sign_token,
)
from tests.support.aftersales import (
    buy_online,
    data_tokens,
    group_token_of,
    order_path,
    scan,
    staff_headers,
    tickets_of,
)
from tests.support.web import query


async def _group_page(client: AsyncTestClient[Any], demo: DemoFacility, code: str, key: str) -> str:
    return (await client.get(order_path(demo, code, key))).text


async def test_one_scan_admits_the_whole_group_and_logs_each_ticket(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = group_token_of(await _group_page(client, demo, code, key))
    assert token is not None
    result = await scan(client, gate_headers, token)
    assert (result["result"], result["admitted"], result["admitted_count"]) == ("admitted", True, 3)
    assert result["group"] is True and result["order_code"] == code
    assert result["message_ja"].startswith("3名") and "3 admitted" in result["message_en"]
    tickets = await tickets_of(db_settings, code)
    assert sorted(result["admitted_ticket_ids"]) == [t.id for t in tickets]
    assert {t.status for t in tickets} == {"used"}
    rows = await query(db_settings, sa.select(CheckIn.ticket_id, CheckIn.result))
    assert sorted(rows) == sorted((t.id, "admitted") for t in tickets)


async def test_second_group_scan_admits_nobody(
    client: AsyncTestClient[Any], demo: DemoFacility, gate_headers: dict[str, str]
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = group_token_of(await _group_page(client, demo, code, key))
    assert token is not None
    await scan(client, gate_headers, token)
    again = await scan(client, gate_headers, token)
    assert (again["result"], again["admitted"], again["admitted_count"]) == (
        "already_used",
        False,
        0,
    )


async def test_group_admits_only_the_unused_tickets(
    client: AsyncTestClient[Any], demo: DemoFacility, gate_headers: dict[str, str]
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    page = await _group_page(client, demo, code, key)
    assert (await scan(client, gate_headers, data_tokens(page)[0]))["admitted_count"] == 1
    result = await scan(client, gate_headers, group_token_of(page) or "")
    assert result["admitted_count"] == 2


async def test_cancelled_tickets_are_not_admitted_by_the_group_code(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = group_token_of(await _group_page(client, demo, code, key)) or ""
    first = (await tickets_of(db_settings, code))[0]
    cancelled = await client.post(
        f"/api/v1/orders/{code}/cancel",
        json={"ticket_ids": [first.id]},
        headers={**await staff_headers(client, demo), "Idempotency-Key": "g-1"},
    )
    assert cancelled.status_code == 200, cancelled.text
    result = await scan(client, gate_headers, token)
    assert result["admitted_count"] == 2 and first.id not in result["admitted_ticket_ids"]


async def test_group_code_is_shown_for_two_or_more_tickets_only(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    code, key = await buy_online(client, demo, adults=1, children=0)
    assert group_token_of(await _group_page(client, demo, code, key)) is None
    code, key = await buy_online(client, demo, adults=1, children=1)
    assert group_token_of(await _group_page(client, demo, code, key)) is not None


async def test_concurrent_group_scans_admit_each_ticket_once(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = group_token_of(await _group_page(client, demo, code, key)) or ""
    results = await asyncio.gather(*(scan(client, gate_headers, token) for _ in range(3)))
    assert sum(r["admitted_count"] for r in results) == 3
    admitted = await query(
        db_settings, sa.select(CheckIn.ticket_id).where(CheckIn.result == "admitted")
    )
    assert len(admitted) == 3 and len({r[0] for r in admitted}) == 3


async def test_forged_or_foreign_group_codes_are_refused(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, _key = await buy_online(client, demo, days_ahead=0)
    order_id = (await query(db_settings, sa.select(Order.id).where(Order.code == code)))[0][0]
    other_key, _public = generate_signing_key()
    forged = sign_token(other_key, TokenClaim(KIND_ORDER_GROUP, demo.facility_id, order_id, 1))
    assert (await scan(client, gate_headers, forged))["result"] == "invalid"
    foreign = sign_token(
        other_key, TokenClaim(KIND_ORDER_GROUP, demo.facility_id + 99, order_id, 1)
    )
    assert (await scan(client, gate_headers, foreign))["result"] == "wrong_facility"
    assert {t.status for t in await tickets_of(db_settings, code)} == {"valid"}


async def test_single_ticket_scan_reports_a_count_of_one(
    client: AsyncTestClient[Any], demo: DemoFacility, gate_headers: dict[str, str]
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    token = data_tokens(await _group_page(client, demo, code, key))[0]
    first, second = await scan(client, gate_headers, token), await scan(client, gate_headers, token)
    assert (first["admitted_count"], first["group"]) == (1, False)
    assert (second["result"], second["admitted_count"]) == ("already_used", 0)


async def test_handed_on_tickets_are_not_part_of_the_group(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    first = (await tickets_of(db_settings, code))[0]
    await client.post(
        f"/shop/{demo.slug}/orders/{code}/tickets/{first.id}/share", data={"key": key}
    )
    transfer_key = (await query(db_settings, sa.select(TicketTransfer.claim_key)))[0][0]
    claimed = await client.post(f"/shop/{demo.slug}/claim/{transfer_key}", data={"name": "Ken"})
    assert claimed.status_code == 303
    page = await _group_page(client, demo, code, key)
    assert "2名" in page  # the group code now covers the buyer's two tickets
    result = await scan(client, gate_headers, group_token_of(page) or "")
    assert result["admitted_count"] == 2 and first.id not in result["admitted_ticket_ids"]
