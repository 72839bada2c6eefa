"""Offline gates and the gate rules: the bundle carries what the rules need, and an upload
takes no use where an online scan would take none. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import GateConflict
from core_service.platform.settings import Settings
from tests.support.aftersales import scan
from tests.support.gate_rules import buy, set_product, uses_left
from tests.support.web import query


def _scan(token: str, direction: str, minutes_ago: int) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    return {
        "nonce": uuid.uuid4().hex,
        "token": token,
        "scanned_at": at.isoformat(),
        "result": "admitted",
        "direction": direction,
    }


async def _upload(client: AsyncTestClient[Any], gate: dict[str, str], *scans: Any) -> Any:
    response = await client.post(
        "/api/v1/gate/offline-scans", json={"scans": list(scans)}, headers=gate
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_bundle_carries_the_rules_flags_the_slot_and_the_last_passage(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    day = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    timed = await buy(client, kiosk_headers, demo.timed_adult_category_id, 1500, slot="11:30")
    await scan(client, gate_headers, day["qr_token"], "entry")
    bundle = (await client.get("/api/v1/gate/offline-bundle", headers=gate_headers)).json()
    by_id = {t["id"]: t for t in bundle["tickets"]}
    assert {k: by_id[day["id"]][k] for k in ("kind", "reentry_after_exit", "last_passage")} == {
        "kind": "day_admission",
        "reentry_after_exit": True,
        "last_passage": "entry",
    }
    assert {k: by_id[timed["id"]][k] for k in ("kind", "slot", "slot_grace_minutes")} == {
        "kind": "timed_admission",
        "slot": "11:30",
        "slot_grace_minutes": 30,
    }
    assert by_id[timed["id"]]["last_passage"] == ""


async def test_an_offline_ride_on_an_entered_day_ticket_uses_nothing_and_is_no_conflict(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    answer = await _upload(
        client,
        gate_headers,
        _scan(ticket["qr_token"], "entry", 30),
        _scan(ticket["qr_token"], "ride", 20),
        _scan(ticket["qr_token"], "ride", 10),
    )
    assert (answer["recorded"], answer["conflicts"]) == (3, 0)
    assert await uses_left(db_settings, ticket["id"]) == 0  # the entry's one use


async def test_an_offline_reentry_after_an_exit_is_no_conflict(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    token = ticket["qr_token"]
    answer = await _upload(
        client,
        gate_headers,
        _scan(token, "entry", 30),
        _scan(token, "exit", 20),
        _scan(token, "entry", 10),
    )
    assert (answer["recorded"], answer["conflicts"]) == (3, 0)
    # Back online, the server sees the ticket inside: a second entry is refused.
    assert (await scan(client, gate_headers, token, "entry"))["result"] == "already_inside"


async def test_an_offline_second_entry_without_an_exit_is_still_a_double_admission(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    token = ticket["qr_token"]
    answer = await _upload(
        client, gate_headers, _scan(token, "entry", 30), _scan(token, "entry", 10)
    )
    assert answer["conflicts"] == 1
    kinds = await query(db_settings, sa.select(GateConflict.kind))
    assert [k for (k,) in kinds] == ["double_admission"]


async def test_an_offline_coupon_book_entry_keeps_its_rides(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    """An older scanner page may have admitted one; the server takes no ride for it."""
    ticket = await buy(client, kiosk_headers, demo.coupon_category_id, 3000)
    answer = await _upload(client, gate_headers, _scan(ticket["qr_token"], "entry", 10))
    assert (answer["recorded"], answer["conflicts"]) == (1, 0)
    assert await uses_left(db_settings, ticket["id"]) == 10
