"""The check-in rules a park runs by (core_service.checkin.rules), on SQLite and PostgreSQL.

On PostgreSQL the everyday statement must leave every case below to the general path; on
SQLite the general path decides all of them: both must answer and log alike.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.checkin import rules
from core_service.demo.data import DemoFacility
from core_service.models import CheckIn, Facility, Order, Product
from core_service.orders.presenters import group_token
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today
from tests.support.aftersales import scan
from tests.support.gate_rules import PNG, buy, give_holder, set_product, uses_left
from tests.support.live_server import serve
from tests.support.web import query

TOKYO = ZoneInfo("Asia/Tokyo")


async def _log(settings: Settings, ticket_id: int) -> list[tuple[str, str]]:
    rows = await query(
        settings,
        sa.select(CheckIn.direction, CheckIn.result)
        .where(CheckIn.ticket_id == ticket_id)
        .order_by(CheckIn.id),
    )
    return [(direction, result) for direction, result in rows]


async def _results(
    client: AsyncTestClient[Any], gate: dict[str, str], token: str, *directions: str
) -> list[str]:
    return [(await scan(client, gate, token, d))["result"] for d in directions]


# --- 1. re-entry after an exit -----------------------------------------------------------


async def test_without_reentry_a_day_ticket_is_not_admitted_again_after_its_exit(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    results = await _results(client, gate_headers, ticket["qr_token"], "entry", "exit", "entry")
    assert results == ["admitted", "admitted", "already_used"]


async def test_with_reentry_an_exit_lets_the_ticket_in_again_and_entry_twice_is_refused(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    token = ticket["qr_token"]
    results = await _results(
        client, gate_headers, token, "entry", "entry", "exit", "entry", "entry"
    )
    assert results == ["admitted", "already_inside", "admitted", "admitted", "already_inside"]
    assert await uses_left(db_settings, ticket["id"]) == 0  # one use, at the first entry
    assert (await _log(db_settings, ticket["id"]))[1] == ("entry", "already_inside")


async def test_already_inside_says_so_in_both_languages(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    await scan(client, gate_headers, ticket["qr_token"])
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert (answer["admitted"], answer["message_en"]) == (
        False,
        "Already inside: no exit since the last entry",
    )
    assert answer["message_ja"] == "入場中です（退場の記録がありません）"


# --- 2. an exit needs an entry ----------------------------------------------------------


async def test_an_exit_without_an_entry_today_is_refused_and_changes_nothing(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    answer = await scan(client, gate_headers, ticket["qr_token"], "exit")
    assert (answer["result"], answer["admitted"], answer["admitted_count"]) == (
        "not_entered",
        False,
        0,
    )
    assert answer["message_ja"] != answer["message_en"] and answer["message_en"]
    assert await uses_left(db_settings, ticket["id"]) == 1
    # The ticket still enters, and then may leave.
    assert await _results(client, gate_headers, ticket["qr_token"], "entry", "exit") == [
        "admitted",
        "admitted",
    ]
    assert await _log(db_settings, ticket["id"]) == [
        ("exit", "not_entered"),
        ("entry", "admitted"),
        ("exit", "admitted"),
    ]


async def test_an_entry_refused_is_no_entry_for_the_exit(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    """Only an admitted entry counts: a coupon book refused at the entry cannot exit."""
    ticket = await buy(client, kiosk_headers, demo.coupon_category_id, 3000)
    assert await _results(client, gate_headers, ticket["qr_token"], "entry", "exit") == [
        "ride_only",
        "not_entered",
    ]


# --- 3. rides on day tickets ------------------------------------------------------------


async def test_a_ride_on_a_day_ticket_admits_an_entered_visitor_without_a_use(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    results = await _results(
        client, gate_headers, ticket["qr_token"], "ride", "entry", "ride", "ride", "exit", "ride"
    )
    assert results == ["not_entered", "admitted", "admitted", "admitted", "admitted", "not_entered"]
    assert await uses_left(db_settings, ticket["id"]) == 0  # the entry's use only


async def test_a_day_ticket_whose_rides_use_it_is_used_up_at_the_ride(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    await set_product(db_settings, demo.day_ticket_id, rides_use_ticket=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    first = await scan(client, gate_headers, ticket["qr_token"], "ride")
    second = await scan(client, gate_headers, ticket["qr_token"], "ride")
    assert (first["result"], first["ticket"]["uses_left"]) == ("admitted", 0)
    assert second["result"] == "already_used"


# --- 4. coupon books at the entry -------------------------------------------------------


async def test_a_coupon_book_at_the_entry_is_refused_and_keeps_its_rides(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.coupon_category_id, 3000)
    entry = await scan(client, gate_headers, ticket["qr_token"], "entry")
    assert (entry["result"], entry["admitted"], entry["ticket"]["uses_left"]) == (
        "ride_only",
        False,
        10,
    )
    assert entry["message_en"] == "Ride ticket: not valid for entry"
    ride = await scan(client, gate_headers, ticket["qr_token"], "ride")
    assert (ride["result"], ride["ticket"]["uses_left"]) == ("admitted", 9)
    assert await _log(db_settings, ticket["id"]) == [("entry", "ride_only"), ("ride", "admitted")]


# --- 5. timed tickets and their slot ----------------------------------------------------


def _at(hour: int, minute: int) -> dt.datetime:
    """Today (the facility's) at a local time, as the instant the rules see."""
    today = facility_today("Asia/Tokyo")
    return dt.datetime.combine(today, dt.time(hour, minute), TOKYO).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "result"),
    [(9, 29, "too_early"), (9, 30, "admitted"), (10, 30, "admitted"), (10, 31, "too_late")],
)
async def test_a_timed_ticket_enters_only_within_its_slot_and_grace(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    hour: int,
    minute: int,
    result: str,
) -> None:
    ticket = await buy(client, kiosk_headers, demo.timed_adult_category_id, 1500, slot="10:00")
    monkeypatch.setattr(rules, "utcnow", lambda: _at(hour, minute))
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert answer["result"] == result
    assert await uses_left(db_settings, ticket["id"]) == (0 if result == "admitted" else 1)


async def test_a_slot_refusal_names_the_slot_and_its_window(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket = await buy(client, kiosk_headers, demo.timed_adult_category_id, 1500, slot="13:00")
    monkeypatch.setattr(rules, "utcnow", lambda: _at(12, 0))
    early = await scan(client, gate_headers, ticket["qr_token"])
    monkeypatch.setattr(rules, "utcnow", lambda: _at(14, 0))
    late = await scan(client, gate_headers, ticket["qr_token"])
    assert early["message_en"] == "Too early: the 13:00 slot admits from 12:30"
    assert early["message_ja"] == "13:00の回は12:30から入場できます"
    assert late["message_en"] == "Too late: the 13:00 slot admitted until 13:30"
    assert late["message_ja"] == "13:00の回の入場は13:30までです"


async def test_the_grace_is_the_products(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await set_product(db_settings, demo.timed_ticket_id, slot_grace_minutes=90)
    ticket = await buy(client, kiosk_headers, demo.timed_adult_category_id, 1500, slot="10:00")
    monkeypatch.setattr(rules, "utcnow", lambda: _at(8, 45))
    assert (await scan(client, gate_headers, ticket["qr_token"]))["result"] == "admitted"


async def test_the_slot_is_read_in_the_facilitys_time_zone(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10:00 in Tokyo is 01:00 UTC: a gate at 01:05 UTC admits the 10:00 slot."""
    ticket = await buy(client, kiosk_headers, demo.timed_adult_category_id, 1500, slot="10:00")
    moment = _at(10, 5)
    assert moment.hour == 1  # the instant is UTC
    monkeypatch.setattr(rules, "utcnow", lambda: moment)
    assert (await scan(client, gate_headers, ticket["qr_token"]))["result"] == "admitted"


def test_a_slot_window_is_clamped_to_the_day_and_unreadable_slots_have_none() -> None:
    assert rules.slot_window("00:10", 30) == (dt.time(0, 0), dt.time(0, 40))
    assert rules.slot_window("23:50", 30) == (dt.time(23, 20), dt.time(23, 59))
    assert rules.slot_window("", 30) is None
    assert rules.slot_window("morning", 30) is None


# --- 6. the holder's name and photo -----------------------------------------------------


async def _buy_pass(
    client: AsyncTestClient[Any], demo: DemoFacility, kiosk: dict[str, str], photo: bytes | None
) -> dict[str, Any]:
    holder = {"name": "山田花子", "birth_date": "1990-04-01"}
    if photo is not None:
        holder["photo"] = base64.b64encode(photo).decode()
    return await buy(client, kiosk, demo.pass_adult_category_id, 12000, holders=[holder])


async def test_a_pass_scan_shows_its_holder_and_the_gate_fetches_the_photo(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await _buy_pass(client, demo, kiosk_headers, PNG)
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert answer["result"] == "admitted"
    assert answer["ticket"]["holder_name"] == "山田花子"
    url = answer["ticket"]["holder_photo_url"]
    assert url == f"/api/v1/gate/holders/{ticket['id']}/photo"
    photo = await client.get(url, headers=gate_headers)
    assert photo.status_code == 200
    assert (photo.content, photo.headers["content-type"]) == (PNG, "image/png")
    assert photo.headers["cache-control"] == "no-store"
    # Refused scans show the holder too: staff see whose pass it is.
    again = await scan(client, gate_headers, ticket["qr_token"])
    assert (again["result"], again["ticket"]["holder_name"]) == ("already_used", "山田花子")


async def test_a_holder_without_a_photo_has_no_photo_url_and_the_route_answers_404(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await _buy_pass(client, demo, kiosk_headers, None)
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert (answer["ticket"]["holder_name"], answer["ticket"]["holder_photo_url"]) == (
        "山田花子",
        None,
    )
    missing = await client.get(f"/api/v1/gate/holders/{ticket['id']}/photo", headers=gate_headers)
    assert missing.status_code == 404
    assert set(missing.json()) >= {"detail", "code"}


async def test_a_day_ticket_answer_has_no_holder(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert (answer["ticket"]["holder_name"], answer["ticket"]["holder_photo_url"]) == (None, None)


async def test_a_holder_on_a_product_that_requires_one_is_shown_on_postgresql_too(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    """A day product with holders leaves the everyday statement, which knows no holders."""
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    await set_product(db_settings, demo.day_ticket_id, holder_required=True)
    await give_holder(db_settings, ticket["id"], "Ken Yamada")
    answer = await scan(client, gate_headers, ticket["qr_token"])
    assert answer["ticket"]["holder_name"] == "Ken Yamada"
    assert answer["ticket"]["holder_photo_url"] is not None


async def test_the_product_columns_default_to_todays_behaviour(
    db_settings: Settings, demo: DemoFacility
) -> None:
    rows = await query(
        db_settings,
        sa.select(
            Product.reentry_after_exit, Product.rides_use_ticket, Product.slot_grace_minutes
        ).where(Product.id == demo.day_ticket_id),
    )
    assert tuple(rows[0]) == (False, False, 30)


async def test_concurrent_reentries_after_one_exit_admit_once(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not db_settings.database_url.startswith("postgresql"):
        pytest.skip("concurrent gates are a PostgreSQL deployment")
    await set_product(db_settings, demo.day_ticket_id, reentry_after_exit=True)
    ticket = await buy(client, kiosk_headers, demo.adult_category_id, 2000)
    token = ticket["qr_token"]
    assert await _results(client, gate_headers, token, "entry", "exit") == ["admitted"] * 2
    # Every commit waits a little, so each scan's decision is still uncommitted while the
    # others decide: without the row lock, each would see the exit as the last passage.
    commit = AsyncSession.commit

    async def slow_commit(self: AsyncSession) -> None:
        await asyncio.sleep(0.2)
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", slow_commit)
    # A real server: the in-process test client runs one request at a time.
    with serve(create_app(db_settings, background=False)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=gate_headers) as http:
            responses = await asyncio.gather(
                *(http.post("/api/v1/gate/scan", json={"token": token}) for _ in range(4))
            )
    monkeypatch.undo()
    results = sorted(r.json()["result"] for r in responses)
    assert results == ["admitted"] + ["already_inside"] * 3


async def _group_of_two(
    client: AsyncTestClient[Any], settings: Settings, demo: DemoFacility, kiosk: dict[str, str]
) -> tuple[str, list[int]]:
    """A paid kiosk order of two day tickets: its group code and the ticket ids."""
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": 2}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "group", "amount": 4000},
        },
        headers={**kiosk, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    code = response.json()["order"]["code"]
    order = (await query(settings, sa.select(Order).where(Order.code == code)))[0][0]
    facility = await query(settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    token = group_token(facility[0][0], order, settings.secret_key)
    return token, [t["id"] for t in response.json()["tickets"]]


async def test_a_group_code_follows_the_rules_for_each_member(
    client: AsyncTestClient[Any],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    gate_headers: dict[str, str],
) -> None:
    token, ids = await _group_of_two(client, db_settings, demo, kiosk_headers)
    answers = [await scan(client, gate_headers, token, d) for d in ("exit", "entry", "ride")]
    assert [(a["result"], a["admitted_count"]) for a in answers] == [
        ("not_entered", 0),
        ("admitted", 2),
        ("admitted", 2),
    ]
    assert [await uses_left(db_settings, i) for i in ids] == [0, 0]  # the entry's use only
