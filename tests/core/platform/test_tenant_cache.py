"""The per-worker tenant cache: device requests see every change of the facility's setup
at once, whoever made it, and otherwise read it from memory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Product
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from tests.support.aftersales import staff_headers


def _order(demo: DemoFacility, amount: int, answers: dict | None = None) -> dict:
    return {
        "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
        "answers": {"consent_waiver": True} if answers is None else answers,
        "payment": {"method": "card", "reference": "term-1", "amount": amount},
    }


async def _sell(client: AsyncTestClient, headers: dict[str, str], body: dict) -> tuple[int, dict]:
    response = await client.post(
        "/api/v1/kiosk/orders",
        json=body,
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "en"},
    )
    return response.status_code, response.json()


@pytest.fixture
async def engine(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A second writer on the same database, beside the app (like psql, or a worker)."""
    engine = make_engine(db_settings)
    yield engine
    await engine.dispose()


async def _version(engine: AsyncEngine, facility_id: int) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.text("SELECT config_version FROM facility WHERE id = :id"), {"id": facility_id}
        )


async def _run(engine: AsyncEngine, sql: str, **params: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(sql), params)


async def test_a_price_changed_by_any_writer_is_charged_at_the_next_kiosk_sale(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await _sell(client, kiosk_headers, _order(demo, 2000)))[0] == 201  # cache warm
    await _run(
        engine, "UPDATE price_category SET price = 2500 WHERE id = :id", id=demo.adult_category_id
    )
    status, body = await _sell(client, kiosk_headers, _order(demo, 2000))
    assert status == 409
    assert "2500" in body["detail"]
    status, body = await _sell(client, kiosk_headers, _order(demo, 2500))
    assert status == 201, body
    assert body["order"]["total"] == 2500
    assert body["order"]["lines"][0]["unit_price"] == 2500


async def test_a_product_taken_off_sale_is_refused_at_once(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await _sell(client, kiosk_headers, _order(demo, 2000)))[0] == 201
    await _run(
        engine,
        "UPDATE product SET active = false WHERE id ="
        " (SELECT product_id FROM price_category WHERE id = :id)",
        id=demo.adult_category_id,
    )
    status, body = await _sell(client, kiosk_headers, _order(demo, 2000))
    assert status in (409, 422), body
    assert "traceback" not in str(body).lower()


async def test_staff_settings_reach_the_kiosk_at_once(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    catalog = (await client.get("/api/v1/kiosk/catalog", headers=kiosk_headers)).json()
    assert catalog["payment_methods"] == ["card", "emoney", "qr"]
    assert [f["name"] for f in catalog["checkout_fields"]] == ["consent_waiver"]
    staff = await staff_headers(client, demo, "manager")
    response = await client.put(
        "/api/v1/facility/settings/",
        json={
            "payment_methods": {"kiosk": ["card"]},
            "plugins": [{"name": "consent", "enabled": False}],
        },
        headers=staff,
    )
    assert response.status_code == 200, response.text
    catalog = (await client.get("/api/v1/kiosk/catalog", headers=kiosk_headers)).json()
    assert catalog["payment_methods"] == ["card"]
    assert catalog["checkout_fields"] == []
    # The consent plugin is off: a sale without its answer goes through now.
    assert (await _sell(client, kiosk_headers, _order(demo, 2000, answers={})))[0] == 201


async def test_every_change_of_the_setup_moves_the_version(
    demo: DemoFacility, engine: AsyncEngine
) -> None:
    """Every trigger of migration 0010, on both databases: insert, update and delete of
    each watched table, and the facility row itself; other tables leave it alone."""
    facility = demo.facility_id
    product = demo.timed_ticket_id
    changes = [
        ("UPDATE facility SET name_en = 'Renamed' WHERE id = :f", {}),
        ("UPDATE facility_plugin SET options = '{}' WHERE facility_id = :f", {}),
        ("UPDATE product SET name_en = 'Timed' WHERE id = :p", {"p": product}),
        (
            "INSERT INTO price_category (facility_id, product_id, code, name_ja, name_en, price,"
            " handling_fee, sort_order, created_at, updated_at)"
            " VALUES (:f, :p, 'vip', 'VIP', 'VIP', 9000, 0, 9, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)",
            {"p": product},
        ),
        ("UPDATE price_category SET price = 9500 WHERE code = 'vip' AND facility_id = :f", {}),
        ("DELETE FROM price_category WHERE code = 'vip' AND facility_id = :f", {}),
        (
            "INSERT INTO facility_plugin (facility_id, name, enabled, options, created_at,"
            " updated_at) VALUES (:f, 'extra', true, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            {},
        ),
        ("DELETE FROM facility_plugin WHERE name = 'extra' AND facility_id = :f", {}),
    ]
    for sql, params in changes:
        before = await _version(engine, facility)
        await _run(engine, sql, f=facility, **params)
        assert await _version(engine, facility) > before, sql
    # A product inserted and deleted (the ORM fills its many defaults).
    async with make_sessionmaker(engine)() as session:
        before = await _version(engine, facility)
        product_row = Product(
            facility_id=facility, code="new", kind="day_admission", name_ja="新", name_en="New"
        )
        session.add(product_row)
        await session.commit()
        assert await _version(engine, facility) > before, "product insert"
        before = await _version(engine, facility)
        await session.delete(product_row)
        await session.commit()
        assert await _version(engine, facility) > before, "product delete"
    before = await _version(engine, facility)
    await _run(engine, "UPDATE device SET last_seen_at = NULL WHERE facility_id = :f", f=facility)
    assert await _version(engine, facility) == before


async def test_an_unchanged_facility_is_not_read_again(
    db_settings: Settings, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    app = create_app(db_settings, background=False)
    seen: list[str] = []
    async with AsyncTestClient(app=app) as client:
        sa.event.listen(
            app.state.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_a: seen.append(statement),
        )
        assert (await _sell(client, kiosk_headers, _order(demo, 2000)))[0] == 201
        first = list(seen)
        seen.clear()
        assert (await _sell(client, kiosk_headers, _order(demo, 2000)))[0] == 201
    setup_reads = ("FROM price_category", "JOIN facility_plugin", "FROM facility ")
    assert [s for s in first if any(r in s for r in setup_reads)]  # loaded the snapshot
    assert not [s for s in seen if any(r in s for r in setup_reads)]  # read from memory
