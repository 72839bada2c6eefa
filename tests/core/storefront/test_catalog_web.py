"""The web checkout of every product kind of the demo facility, and the public
availability feed and widget, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import Facility, Order, Ticket
from core_service.models.catalog import PassHolder
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today
from tests.support.web import find_all, pay_with_demo, query, run_in_session

JA = {"accept": "text/html", "accept-language": "ja-JP,ja;q=0.9"}
EN = {"accept": "text/html", "accept-language": "en-US,en;q=0.9"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _day(days: int = 3) -> dt.date:
    return facility_today("Asia/Tokyo") + dt.timedelta(days=days)


@pytest.fixture(autouse=True)
def _no_redirects(client: AsyncTestClient[Any]) -> None:
    client.follow_redirects = False  # each checkout redirect is looked at


def _url(demo: DemoFacility, code: str) -> str:
    return f"/shop/{demo.slug}/products/{code}"


async def test_shop_lists_every_kind_but_not_addons(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    page = (await client.get(f"/shop/{demo.slug}/", headers=EN)).text
    for name in ("Day ticket", "10-ride coupon book", "Zip line (timed entry)", "Annual passport"):
        assert name in page
    assert "Parking" not in page
    assert (await client.get(_url(demo, "parking"), headers=EN)).status_code == 404


async def test_timed_product_page_offers_slots_per_day_and_addons(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    page = (await client.get(_url(demo, "zipline"), headers=JA)).text
    assert "ご来場日と時間帯" in page
    assert page.count('name="visit_slot"') == 30 * len(demo.timed_slots)
    assert f'value="{_day().isoformat()}|10:00"' in page
    # Add-on with its separate handling fee, and the tax contained in the price.
    assert "駐車場（1日）" in page and "手数料 100円" in page
    assert "うち消費税10% 136円" in page  # 1,500円 contains 136円 of 10% tax


async def test_timed_ticket_with_parking_is_bought_and_issued(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    day = _day()
    response = await client.post(
        _url(demo, "zipline"),
        headers=EN,
        data={
            "checkout_id": "timed-1",
            "visit_slot": f"{day.isoformat()}|11:30",
            f"qty_{demo.timed_adult_category_id}": "2",
            f"qty_{demo.parking_category_id}": "1",
            "email": "visitor@example.com",
            "consent_waiver": "on",
            "payment": "demo:card",
        },
    )
    ticket_page = await pay_with_demo(client, response)
    assert ticket_page.status_code == 200 and ticket_page.text.count("<svg") >= 3
    rows = await query(db_settings, sa.select(Ticket.product_id, Ticket.slot, Ticket.valid_from))
    assert sorted(rows) == sorted(
        [(demo.timed_ticket_id, "11:30", day)] * 2 + [(demo.parking_id, "", day)]
    )


async def test_missing_slot_is_an_error_that_keeps_the_form(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    response = await client.post(
        _url(demo, "zipline"),
        headers=JA,
        data={
            "checkout_id": "timed-2",
            "visit_date": _day().isoformat(),
            f"qty_{demo.timed_adult_category_id}": "3",
            "email": "keep@example.com",
            "payment": "demo:card",
        },
    )
    assert response.status_code == 422
    assert 'id="slot-error"' in response.text and "時間帯を選んでください" in response.text
    assert 'value="keep@example.com"' in response.text
    qty = find_all(rf'name="qty_{demo.timed_adult_category_id}"[^>]*>', response.text)
    assert 'value="3"' in qty[0]


async def test_addon_alone_is_refused_on_the_form(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    response = await client.post(
        _url(demo, "day"),
        headers=EN,
        data={
            "checkout_id": "addon-1",
            "visit_date": _day().isoformat(),
            f"qty_{demo.parking_category_id}": "1",
            "email": "visitor@example.com",
            "consent_waiver": "on",
            "payment": "demo:card",
        },
    )
    assert response.status_code == 422
    assert "Add-ons are sold only together with a ticket." in response.text


async def test_annual_pass_collects_one_holder_per_pass(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    url = _url(demo, "annual")
    first = {
        "checkout_id": "pass-1",
        "holder_count": "1",
        "holder_0_category": str(demo.pass_adult_category_id),
        "holder_0_name": "山田花子",
        "holder_0_birth_date": "1990-04-01",
        "email": "pass@example.com",
        "consent_waiver": "on",
        "payment": "demo:card",
        "action": "add_holder",
    }
    files = {"holder_0_photo": ("me.png", PNG, "image/png")}
    more = await client.post(url, headers=JA, data=first, files=files)
    assert more.status_code == 200
    # A second block appeared; the first kept its name and its uploaded photo.
    assert 'name="holder_1_name"' in more.text and 'value="山田花子"' in more.text
    photo = find_all(r'name="holder_0_photo_data" value="([^"]+)"', more.text)
    assert photo
    incomplete = {
        **first,
        "action": "",
        "holder_count": "2",
        "holder_0_photo_data": photo[0],
        "holder_0_photo_type": "image/png",
        "holder_1_name": "山田太郎",
        "holder_1_category": str(demo.pass_child_category_id),
    }
    refused = await client.post(url, headers=JA, data=incomplete)
    assert refused.status_code == 422 and "生年月日" in refused.text
    assert 'value="山田太郎"' in refused.text
    complete = {**incomplete, "holder_1_birth_date": "2015-06-30"}
    ticket_page = await pay_with_demo(client, await client.post(url, headers=JA, data=complete))
    assert ticket_page.status_code == 200
    rows = await query(db_settings, sa.select(Ticket.holder_name).order_by(Ticket.id))
    assert [r[0] for r in rows] == ["山田花子", "山田太郎"]
    holders = await query(
        db_settings,
        sa.select(PassHolder.photo, PassHolder.birth_date).order_by(PassHolder.position),
    )
    assert holders[0] == (PNG, dt.date(1990, 4, 1)) and holders[1] == (None, dt.date(2015, 6, 30))
    totals = await query(db_settings, sa.select(Order.total))
    assert totals == [(12000 + 6000,)]


async def test_closed_day_is_marked_and_refused(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    day = _day(5)

    async def close(session: Any) -> None:
        await session.execute(
            sa.update(Facility)
            .where(Facility.id == demo.facility_id)
            .values(settings={"closed_dates": [day.isoformat()]})
        )
        await session.commit()

    await run_in_session(db_settings, close)
    page = (await client.get(_url(demo, "day"), headers=EN)).text
    radio = find_all(rf'<input type="radio" name="visit_date" id="date-{day}"[^>]*>', page)
    assert radio and "disabled" in radio[0]
    response = await client.post(
        _url(demo, "day"),
        headers=EN,
        data={
            "checkout_id": "closed-1",
            "visit_date": day.isoformat(),
            f"qty_{demo.adult_category_id}": "1",
            "email": "a@example.com",
            "consent_waiver": "on",
            "payment": "demo:card",
        },
    )
    assert response.status_code == 422 and "This date cannot be booked." in response.text
    feed = (await client.get(f"/api/v1/facilities/{demo.slug}/availability?product=day")).json()
    closed = [d for d in feed["products"][0]["days"] if d["closed"]]
    assert [d["date"] for d in closed] == [day.isoformat()]


async def test_availability_feed_is_public_json_with_cors(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    response = await client.get(f"/api/v1/facilities/{demo.slug}/availability?days=7")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    codes = [p["code"] for p in body["products"]]
    assert codes == ["day", "zipline"]  # dated, web-sold, not add-ons
    zipline = body["products"][1]
    assert len(zipline["days"]) == 7 and len(zipline["days"][0]["slots"]) == 4
    assert zipline["days"][0]["marker"]["symbol"] == "〇"
    assert "remaining" not in str(body)
    bad = await client.get(f"/api/v1/facilities/{demo.slug}/availability?from=tomorrow")
    assert bad.status_code in (400, 422)


async def test_availability_widget_is_an_embeddable_page(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    page = await client.get(f"/shop/{demo.slug}/availability-widget?lang=en")
    assert page.status_code == 200
    assert "<table>" in page.text and "Zip line (timed entry)" in page.text
    assert "〇" in page.text and "<script" not in page.text
    assert "x-frame-options" not in page.headers
