"""The kiosk sells every product kind: timed slots with markers, passes with holders (and
a camera photo), add-ons and coupon books, with the web's consent recorded the same way."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import ConsentRecord, Order
from core_service.models.catalog import PassHolder
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings

#: The smallest JPEG header photo_type() accepts, and a few bytes of "image".
JPEG = b"\xff\xd8\xff\xe0" + b"kiosk-camera" * 10
CONSENT = {"consent_waiver": True}


def _body(lines: list[dict[str, Any]], amount: int, answers: dict[str, Any] | None = None) -> dict:
    return {
        "lines": lines,
        "answers": CONSENT if answers is None else answers,
        "payment": {"method": "card", "reference": "term-1", "amount": amount},
        "locale": "ja",
    }


async def _sell(client: AsyncTestClient, headers: dict[str, str], body: dict) -> Any:
    return await client.post(
        "/api/v1/kiosk/orders",
        json=body,
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )


async def _catalog(client: AsyncTestClient, headers: dict[str, str]) -> dict[str, dict]:
    response = await client.get("/api/v1/kiosk/catalog", headers=headers)
    assert response.status_code == 200
    return {p["code"]: p for p in response.json()["products"]}


async def _rows(settings: Settings, model: Any, order_code: str) -> list[Any]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            order_id = await session.scalar(sa.select(Order.id).where(Order.code == order_code))
            return list(await session.scalars(sa.select(model).where(model.order_id == order_id)))
    finally:
        await engine.dispose()


async def test_the_demo_kiosk_offers_every_product_kind(
    client: AsyncTestClient, kiosk_headers: dict[str, str]
) -> None:
    products = await _catalog(client, kiosk_headers)
    assert {p["kind"] for p in products.values()} == {
        "day_admission",
        "coupon_book",
        "timed_admission",
        "annual_pass",
        "addon",
    }
    assert products["annual"]["holder_required"] is True
    assert products["parking"]["is_addon"] is True
    assert products["parking"]["addon_for"] == ["day", "zipline"]
    assert products["day"]["slots"] == [] and products["day"]["is_addon"] is False


async def test_timed_slots_carry_the_markers_the_web_shows(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    adult = demo.timed_adult_category_id
    for _ in range(5):  # 40 places at 10:00: sold out
        sold = await _sell(
            client,
            kiosk_headers,
            _body([{"price_category_id": adult, "quantity": 8, "slot": "10:00"}], 12000),
        )
        assert sold.status_code == 201, sold.text
    for _ in range(4):  # 32 of 40 at 11:30: few left
        await _sell(
            client,
            kiosk_headers,
            _body([{"price_category_id": adult, "quantity": 8, "slot": "11:30"}], 12000),
        )
    slots = {s["slot"]: s for s in (await _catalog(client, kiosk_headers))["zipline"]["slots"]}
    assert [slots[label]["marker"]["symbol"] for label in demo.timed_slots] == [
        "×",
        "△",
        "〇",
        "〇",
    ]
    assert slots["10:00"]["sold_out"] is True and slots["10:00"]["remaining"] == 0
    assert slots["11:30"]["remaining"] == 8 and not slots["11:30"]["sold_out"]
    feed = (await client.get(f"/api/v1/facilities/{demo.slug}/availability?days=1")).json()
    (web,) = [p for p in feed["products"] if p["code"] == "zipline"]
    web_markers = {s["slot"]: s["marker"]["symbol"] for s in web["days"][0]["slots"]}
    assert web_markers == {label: s["marker"]["symbol"] for label, s in slots.items()}


async def test_a_full_slot_is_refused_with_the_documented_error_shape(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {"price_category_id": demo.timed_adult_category_id, "quantity": 8, "slot": "13:00"}
    for _ in range(5):
        await _sell(client, kiosk_headers, _body([line], 12000))
    refused = await _sell(client, kiosk_headers, _body([{**line, "quantity": 1}], 1500))
    assert refused.status_code == 409
    assert {"detail", "code"} <= refused.json().keys()


async def test_a_timed_sale_without_a_slot_is_refused(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {"price_category_id": demo.timed_adult_category_id, "quantity": 1}
    refused = await _sell(client, kiosk_headers, _body([line], 1500))
    assert refused.status_code == 422
    assert refused.json()["code"] == "slot_required"


async def test_a_pass_sale_keeps_holder_name_birth_date_and_camera_photo(
    client: AsyncTestClient,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    db_settings: Settings,
) -> None:
    holders = [
        {"name": "山田 花子", "birth_date": "1990-04-01", "photo": base64.b64encode(JPEG).decode()},
        {"name": "山田 太郎", "birth_date": "1988-10-10"},
    ]
    line = {"price_category_id": demo.pass_adult_category_id, "quantity": 2, "holders": holders}
    sold = await _sell(client, kiosk_headers, _body([line], 24000))
    assert sold.status_code == 201, sold.text
    rows = sorted(
        await _rows(db_settings, PassHolder, sold.json()["order"]["code"]), key=lambda h: h.position
    )
    assert [(h.name, h.birth_date) for h in rows] == [
        ("山田 花子", dt.date(1990, 4, 1)),
        ("山田 太郎", dt.date(1988, 10, 10)),
    ]
    assert rows[0].photo == JPEG and rows[0].photo_type == "image/jpeg"
    assert rows[1].photo is None
    assert {h.ticket_id for h in rows} == {t["id"] for t in sold.json()["tickets"]}
    names = {t["holder_name"] for t in sold.json()["tickets"]}
    assert names == {"山田 花子", "山田 太郎"}  # the kiosk prints them on the passes


async def test_a_pass_without_birth_date_is_refused_and_sells_nothing(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {
        "price_category_id": demo.pass_adult_category_id,
        "quantity": 1,
        "holders": [{"name": "山田 花子"}],
    }
    refused = await _sell(client, kiosk_headers, _body([line], 12000))
    assert refused.status_code == 422
    assert refused.json()["code"] == "holder_required"
    assert "生年月日" in refused.json()["detail"] or "birth" in refused.json()["detail"]


async def test_a_pass_with_fewer_holders_than_passes_is_refused(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {
        "price_category_id": demo.pass_adult_category_id,
        "quantity": 2,
        "holders": [{"name": "山田 花子", "birth_date": "1990-04-01"}],
    }
    refused = await _sell(client, kiosk_headers, _body([line], 24000))
    assert refused.status_code == 422 and refused.json()["code"] == "holder_required"


async def test_a_photo_that_is_not_an_image_is_refused(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    for photo in ("not base64!", base64.b64encode(b"GIF89a....").decode()):
        holder = {"name": "山田 花子", "birth_date": "1990-04-01", "photo": photo}
        line = {
            "price_category_id": demo.pass_adult_category_id,
            "quantity": 1,
            "holders": [holder],
        }
        refused = await _sell(client, kiosk_headers, _body([line], 12000))
        assert refused.status_code == 422, photo
        assert refused.json()["code"] == "bad_photo"


async def test_add_ons_sell_with_their_main_product_only(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    parking = {"price_category_id": demo.parking_category_id, "quantity": 1}
    alone = await _sell(client, kiosk_headers, _body([parking], 1100))
    assert alone.status_code == 422 and alone.json()["code"] == "addon_without_main"
    day = {"price_category_id": demo.adult_category_id, "quantity": 1}
    sold = await _sell(client, kiosk_headers, _body([day, parking], 3100))
    assert sold.status_code == 201, sold.text
    assert sold.json()["order"]["total"] == 3100  # parking's handling fee included


async def test_a_coupon_book_sells_with_its_uses(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {"price_category_id": demo.coupon_category_id, "quantity": 1}
    sold = await _sell(client, kiosk_headers, _body([line], 3000))
    assert sold.status_code == 201, sold.text
    assert [t["uses_total"] for t in sold.json()["tickets"]] == [10]


async def test_the_kiosk_records_consent_as_the_web_does(
    client: AsyncTestClient,
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    db_settings: Settings,
) -> None:
    line = {"price_category_id": demo.adult_category_id, "quantity": 1}
    refused = await _sell(client, kiosk_headers, _body([line], 2000, answers={}))
    assert refused.status_code == 422
    sold = await _sell(client, kiosk_headers, _body([line], 2000))
    (consent,) = await _rows(db_settings, ConsentRecord, sold.json()["order"]["code"])
    assert (consent.plugin, consent.field) == ("consent", "consent_waiver")
    assert consent.text and len(consent.text_sha256) == 64


async def test_holders_on_a_product_without_holders_are_refused(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    holder = {"name": "山田 花子", "birth_date": "1990-04-01"}
    line = {"price_category_id": demo.adult_category_id, "quantity": 1, "holders": [holder]}
    refused = await _sell(client, kiosk_headers, _body([line], 2000))
    assert refused.status_code == 422 and refused.json()["code"] == "no_holders"


async def test_timed_tickets_carry_their_slot_for_the_printer(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    line = {"price_category_id": demo.timed_child_category_id, "quantity": 2, "slot": "14:30"}
    sold = await _sell(client, kiosk_headers, _body([line], 2000))
    assert sold.status_code == 201, sold.text
    assert [t["slot"] for t in sold.json()["tickets"]] == ["14:30", "14:30"]
    assert all(t["holder_name"] == "" for t in sold.json()["tickets"])
