"""Annual passes (F16), on SQLite and PostgreSQL: once-per-day entry at the gate, the
end date of "first use" passes, concurrent scans, and the card-printer export."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import zxingcpp
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.catalog.rules import Holder
from core_service.checkin import service as checkin_service
from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, CheckIn, Facility, Order, Ticket
from core_service.orders.pass_export import COLUMNS, CSV_NAME
from core_service.orders.placement import place_order
from core_service.orders.presenters import group_token, ticket_token
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments.transitions import confirm_payment, create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_contract.facility_time import facility_today
from kippu_contract.tokens import verify_token
from tests.support.aftersales import scan, staff_headers
from tests.support.live_server import serve

HOST = PluginHost(build_plugin_manager())
EXPORT = "/api/v1/passes/export.zip"
HOLDERS = (Holder("山田花子", dt.date(1990, 4, 1)), Holder("Ken Yamada", dt.date(1988, 1, 2)))


@pytest.fixture
async def session(db_settings: Settings, demo: DemoFacility) -> AsyncIterator[AsyncSession]:
    engine = make_engine(db_settings)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


def _today() -> dt.date:
    return facility_today("Asia/Tokyo")


async def _buy_passes(
    session: AsyncSession,
    settings: Settings,
    demo: DemoFacility,
    holders: tuple[Holder, ...] = HOLDERS[:1],
    *extra: LineRequest,
) -> tuple[Order, list[Ticket], list[str]]:
    """A paid order with one pass per holder; its pass tickets and their gate tokens."""
    tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
    request = CheckoutRequest(
        channel="web",
        lines=[LineRequest(demo.pass_adult_category_id, len(holders), None, "", holders), *extra],
        answers={"consent_waiver": True},
        customer_email="visitor@example.com",
    )
    order, _ = await place_order(session, tenant, request, hold_minutes=15)
    payment = await create_payment(session, tenant, order, "demo", "card")
    await confirm_payment(session, tenant, payment.id, "ref")
    tickets = list(
        await session.scalars(
            sa.select(Ticket)
            .where(Ticket.order_id == order.id, Ticket.product_id == demo.annual_pass_id)
            .order_by(Ticket.id)
        )
    )
    facility = await session.get(Facility, demo.facility_id)
    assert facility is not None
    return order, tickets, [ticket_token(facility, t, settings.secret_key) for t in tickets]


async def _ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    session.expire_all()
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


async def test_pass_admits_once_a_day_every_day(
    client: AsyncTestClient[Any],
    session: AsyncSession,
    db_settings: Settings,
    demo: DemoFacility,
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, (ticket,), (token,) = await _buy_passes(session, db_settings, demo)
    assert (await scan(client, gate_headers, token))["result"] == "admitted"
    assert (await scan(client, gate_headers, token))["result"] == "already_used"
    # Leaving and coming back the same day is still one entry: exits do not count.
    assert (await scan(client, gate_headers, token, "exit"))["result"] == "admitted"
    assert (await scan(client, gate_headers, token))["result"] == "already_used"
    assert (await _ticket(session, ticket.id)).status == "valid"

    # Yesterday's entry does not stop today's.
    for row in await session.scalars(sa.select(CheckIn).where(CheckIn.ticket_id == ticket.id)):
        row.scanned_at -= dt.timedelta(days=1)
    await session.commit()
    assert (await scan(client, gate_headers, token))["result"] == "admitted"

    # And tomorrow it admits again. (Only "today" moves here, not the clock that stamps
    # check-ins, so a second scan "tomorrow" would not see this one: not asserted.)
    tomorrow = _today() + dt.timedelta(days=1)
    monkeypatch.setattr(checkin_service, "facility_today", lambda *_a, **_k: tomorrow)
    assert (await scan(client, gate_headers, token))["result"] == "admitted"


async def test_first_use_sets_the_end_date_at_the_first_entry_only(
    client: AsyncTestClient[Any],
    session: AsyncSession,
    db_settings: Settings,
    demo: DemoFacility,
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, (ticket,), (token,) = await _buy_passes(session, db_settings, demo)
    assert ticket.first_used_at is None and ticket.valid_until > _today() + dt.timedelta(days=365)
    assert (await scan(client, gate_headers, token))["result"] == "admitted"
    entered = await _ticket(session, ticket.id)
    # Demo pass: 365 days from the first use, the first day included.
    assert entered.valid_until == _today() + dt.timedelta(days=364)
    assert entered.first_used_at is not None

    tomorrow = _today() + dt.timedelta(days=1)
    monkeypatch.setattr(checkin_service, "facility_today", lambda *_a, **_k: tomorrow)
    assert (await scan(client, gate_headers, token))["result"] == "admitted"
    again = await _ticket(session, ticket.id)
    assert (again.valid_until, again.first_used_at) == (entered.valid_until, entered.first_used_at)

    # The day after the year is up, the pass no longer admits.
    expired = entered.valid_until + dt.timedelta(days=1)
    monkeypatch.setattr(checkin_service, "facility_today", lambda *_a, **_k: expired)
    assert (await scan(client, gate_headers, token))["result"] == "not_valid_today"


async def test_concurrent_scans_of_one_pass_admit_once(
    session: AsyncSession,
    db_settings: Settings,
    demo: DemoFacility,
    gate_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not db_settings.database_url.startswith("postgresql"):
        pytest.skip("concurrent gates are a PostgreSQL deployment")
    _, (ticket,), (token,) = await _buy_passes(session, db_settings, demo)
    # Every commit waits a little, so each scan's decision is still uncommitted while the
    # others decide: without the row lock, more than one would see "no entry today".
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
    assert [r.status_code for r in responses] == [200] * 4
    results = sorted(r.json()["result"] for r in responses)
    assert results == ["admitted"] + ["already_used"] * 3
    admitted = await session.scalar(
        sa.select(sa.func.count(CheckIn.id)).where(
            CheckIn.ticket_id == ticket.id, CheckIn.result == "admitted"
        )
    )
    assert admitted == 1
    assert (await _ticket(session, ticket.id)).valid_until == _today() + dt.timedelta(days=364)


async def test_group_code_admits_passes_once_a_day(
    client: AsyncTestClient[Any],
    session: AsyncSession,
    db_settings: Settings,
    demo: DemoFacility,
    gate_headers: dict[str, str],
) -> None:
    order, tickets, _ = await _buy_passes(session, db_settings, demo, HOLDERS)
    facility = await session.get(Facility, demo.facility_id)
    assert facility is not None
    token = group_token(facility, order, db_settings.secret_key)
    first = await scan(client, gate_headers, token)
    assert (first["result"], first["admitted_count"]) == ("admitted", 2)
    assert (await scan(client, gate_headers, token))["result"] == "already_used"
    for ticket_id in [t.id for t in tickets]:  # ids first: _ticket expires the objects
        assert (await _ticket(session, ticket_id)).status == "valid"


async def test_export_zip_has_csv_and_qr_images_the_gate_accepts(
    client: AsyncTestClient[Any],
    session: AsyncSession,
    db_settings: Settings,
    demo: DemoFacility,
    gate_headers: dict[str, str],
) -> None:
    day_ticket = LineRequest(demo.adult_category_id, 1, _today() + dt.timedelta(days=3))
    order, tickets, tokens = await _buy_passes(session, db_settings, demo, HOLDERS, day_ticket)
    headers = await staff_headers(client, demo, "manager")
    response = await client.get(EXPORT, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    assert "attachment" in response.headers["content-disposition"]

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    raw = archive.read(CSV_NAME)
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    # Passes only: the day ticket of the same order is not a card.
    assert [int(r["ticket_id"]) for r in rows] == [t.id for t in tickets]
    assert [r["holder_name"] for r in rows] == ["山田花子", "Ken Yamada"]
    assert [r["birth_date"] for r in rows] == ["1990-04-01", "1988-01-02"]
    assert {r["order_code"] for r in rows} == {order.code}
    assert {r["product"] for r in rows} == {"年間パスポート"}
    assert [r["valid_from"] for r in rows] == [t.valid_from.isoformat() for t in tickets]
    assert [r["valid_until"] for r in rows] == [t.valid_until.isoformat() for t in tickets]
    assert {r["status"] for r in rows} == {"valid"}
    assert [r["qr_data"] for r in rows] == tokens

    public_key = (await client.get(f"/api/v1/facilities/{demo.slug}/public-key")).json()
    for row in rows:
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(archive.read(row["qr_png"]))))
        assert [b.text for b in decoded] == [row["qr_data"]]
        assert verify_token(row["qr_data"], public_key["public_key"]).subject_id == int(
            row["ticket_id"]
        )
        assert b"<svg" in archive.read(row["qr_svg"])
    # The printed card is the gate ticket.
    assert (await scan(client, gate_headers, rows[0]["qr_data"]))["result"] == "admitted"

    audit = list(
        await session.scalars(sa.select(AuditLog).where(AuditLog.action == "passes.exported"))
    )
    assert len(audit) == 1 and audit[0].data["count"] == 2
    assert audit[0].actor.startswith("staff:")


@pytest.mark.parametrize("role", ["viewer", "staff"])
async def test_export_is_for_managers_only(
    client: AsyncTestClient[Any], demo: DemoFacility, gate_headers: dict[str, str], role: str
) -> None:
    assert (
        await client.get(EXPORT, headers=await staff_headers(client, demo, role))
    ).status_code == 403
    assert (await client.get(EXPORT, headers=gate_headers)).status_code in (401, 403)
    assert (await client.get(EXPORT)).status_code == 401
    owner = await client.get(EXPORT, headers=await staff_headers(client, demo, "owner"))
    assert owner.status_code == 200
