"""The catalogue staff API (issue 17): a manager creates every kind of product, its prices
and its capacities over HTTP alone; bad input is a bilingual 422 naming the field; staff
and viewers read but cannot change; another facility's product is a 404; a capacity never
drops below what is sold; every change is audited; and what is set is what the shop and
the kiosks sell, at once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility, demo_staff_email
from core_service.models import AuditLog, Capacity, Order, OrderLine
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today
from tests.conftest import seed_demo
from tests.support.aftersales import html_client, staff_headers
from tests.support.web import pay_with_demo, query, visit_day

PRODUCTS = "/api/v1/catalog/products"

#: A valid product of each kind, as a manager would enter it.
KINDS: dict[str, dict[str, Any]] = {
    "day_admission": {
        "daily_capacity": 300,
        "closed_weekdays": [1],
        "max_per_order": 10,
        "reentry_after_exit": True,
        "rides_use_ticket": True,
    },
    "timed_admission": {
        "slots": [{"label": "10:00", "capacity": 20}, {"label": "14:00", "capacity": 30}],
        "slot_grace_minutes": 15,
    },
    "coupon_book": {
        "uses": 5,
        "requires_date": False,
        "validity_days": 30,
        "coupon_tear_off": True,
    },
    "annual_pass": {
        "requires_date": False,
        "validity_days": 365,
        "validity_start": "first_use",
        "holder_required": True,
    },
    "addon": {"addon_for": ["day"], "daily_capacity": 50},
    "time_stay": {
        "channels": ["kiosk"],
        "stay_unit_minutes": 30,
        "stay_unit_price": 500,
        "stay_daily_cap": 2500,
        "stay_free_minutes": 10,
    },
}


def product(code: str, kind: str = "day_admission", **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "kind": kind,
        "name_ja": f"{code}の券",
        "name_en": f"{code} ticket",
        **fields,
    }


async def _create(
    client: AsyncTestClient[Any], headers: dict[str, str], body: dict[str, Any]
) -> Any:
    response = await client.post(PRODUCTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_manager_creates_a_product_of_each_kind(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings, kind: str
) -> None:
    headers = await staff_headers(client, demo, "manager")
    created = await _create(client, headers, product(f"new-{kind}", kind, **KINDS[kind]))
    assert created["kind"] == kind and created["active"] and not created["has_orders"]
    for field, value in KINDS[kind].items():
        assert created[field] == value, field
    listed = (await client.get(PRODUCTS, headers=headers)).json()
    assert created in listed
    assert {p["code"] for p in listed} >= {"day", "zipline", f"new-{kind}"}
    audit = await query(
        db_settings,
        sa.select(AuditLog.actor, AuditLog.subject, AuditLog.data).where(
            AuditLog.action == "product.create"
        ),
    )
    assert [(actor, subject) for actor, subject, _ in audit] == [
        (demo_staff_email("manager", demo.slug), f"product:{created['id']}")
    ]
    assert audit[0][2]["after"]["kind"] == kind and audit[0][2]["before"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (product("t", "timed_admission"), "slots"),
        (product("s", slots=[{"label": "10:00"}]), "slots"),
        (product("t", "timed_admission", slots=[{"label": "9"}, {"label": "9"}]), "slots"),
        (product("a", "addon"), "addon_for"),
        (product("a", "addon", addon_for=["nothing-like-it"]), "addon_for"),
        (product("a", "addon", addon_for=["parking"]), "addon_for"),  # an add-on is no main
        (product("d", addon_for=["day"]), "addon_for"),
        (product("d", tax_rate=5), "tax_rate"),
        (product("d", channels=[]), "channels"),
        (product("d", channels=["phone"]), "channels"),
        (product("d", coupon_tear_off=True), "coupon_tear_off"),
        (
            product("c", "coupon_book", requires_date=False, reentry_after_exit=True),
            "reentry_after_exit",
        ),
        (
            product("t", "timed_admission", slots=[{"label": "10:00"}], rides_use_ticket=True),
            "rides_use_ticket",
        ),
        (
            product("t", "timed_admission", slots=[{"label": "10:00"}], slot_grace_minutes=-1),
            "slot_grace_minutes",
        ),
        (product("d", stay_unit_price=500), "stay_unit_price"),
        (product("s", "time_stay", stay_unit_minutes=0), "stay_unit_minutes"),
        (product("s", "time_stay", stay_daily_cap=-1), "stay_daily_cap"),
        (product("c", "coupon_book"), "requires_date"),
        (product("d", validity_start="first_use"), "validity_start"),
        (product("d", kind="ride"), "kind"),
        (product("has space"), "code"),
        (product("d", name_ja="  "), "name_ja"),
        (product("d", uses=0), "uses"),
        (product("d", daily_capacity=-1), "daily_capacity"),
        (product("d", max_per_order=51), "max_per_order"),
        (product("d", closed_weekdays=[7]), "closed_weekdays"),
        (product("d", sale_starts_at="2026-05-01T00:00:00"), "sale_starts_at"),
        (
            product(
                "d",
                sale_starts_at="2026-05-01T00:00:00+09:00",
                sale_ends_at="2026-04-01T00:00:00+09:00",
            ),
            "sale_ends_at",
        ),
    ],
)
async def test_a_product_a_kind_does_not_allow_is_refused_naming_the_field(
    client: AsyncTestClient[Any], demo: DemoFacility, body: dict[str, Any], field: str
) -> None:
    headers = await staff_headers(client, demo, "manager")
    before = (await client.get(PRODUCTS, headers=headers)).json()
    answers = {}
    for lang in ("en", "ja"):
        response = await client.post(
            PRODUCTS, json=body, headers={**headers, "Accept-Language": lang}
        )
        assert response.status_code == 422, response.text
        assert (response.json()["code"], response.json()["field"]) == ("invalid_product", field)
        answers[lang] = response.json()["detail"]
    assert answers["en"] != answers["ja"] and answers["en"].isascii()
    assert not answers["ja"].isascii()
    assert (await client.get(PRODUCTS, headers=headers)).json() == before


async def test_an_unknown_field_is_refused_not_ignored(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    headers = await staff_headers(client, demo, "manager")
    response = await client.post(PRODUCTS, json=product("d2", capacity=10), headers=headers)
    assert response.status_code == 400, response.text
    assert "capacity" in response.text


async def test_a_code_in_use_is_a_conflict_and_a_code_never_changes(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    headers = await staff_headers(client, demo, "manager")
    again = await client.post(PRODUCTS, json=product("day"), headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "product_exists")
    assert again.json()["product_id"] == demo.day_ticket_id
    renamed = await client.put(
        f"{PRODUCTS}/{demo.day_ticket_id}", json=product("day-2"), headers=headers
    )
    assert (renamed.status_code, renamed.json()["code"]) == (409, "code_fixed")


@pytest.mark.parametrize("role", ["staff", "viewer"])
async def test_staff_and_viewers_read_the_catalogue_but_cannot_change_it(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings, role: str
) -> None:
    headers = await staff_headers(client, demo, role)
    assert (await client.get(PRODUCTS, headers=headers)).status_code == 200
    day = await client.get(f"{PRODUCTS}/{demo.day_ticket_id}", headers=headers)
    assert day.status_code == 200 and day.json()["code"] == "day"
    price = {"code": "senior", "name_ja": "シニア", "name_en": "Senior", "price": 1500}
    capacity = {"date_from": "2030-01-01", "date_to": "2030-01-02", "capacity": 1}
    refused = [
        await client.post(PRODUCTS, json=product("mine"), headers=headers),
        await client.put(f"{PRODUCTS}/{demo.day_ticket_id}", json=product("day"), headers=headers),
        await client.post(f"{PRODUCTS}/{demo.day_ticket_id}/prices", json=price, headers=headers),
        await client.put(
            f"/api/v1/catalog/prices/{demo.adult_category_id}", json=price, headers=headers
        ),
        await client.delete(f"/api/v1/catalog/prices/{demo.child_category_id}", headers=headers),
        await client.put(
            f"{PRODUCTS}/{demo.day_ticket_id}/capacities", json=capacity, headers=headers
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert (
        await query(db_settings, sa.select(AuditLog.id).where(AuditLog.action.like("product.%")))
        == []
    )
    assert await query(db_settings, sa.select(Capacity.id)) == []


async def test_another_facilitys_product_is_not_found_and_not_listed(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    theirs = await staff_headers(client, other, "manager")
    ours = await staff_headers(client, demo, "manager")
    secret = await _create(client, ours, product("ours-only"))
    listed = (await client.get(PRODUCTS, headers=theirs)).json()
    assert "ours-only" not in {p["code"] for p in listed}
    assert {p["id"] for p in listed}.isdisjoint({secret["id"], demo.day_ticket_id})
    price = {"code": "x", "name_ja": "x", "name_en": "x", "price": 1}
    calls = [
        await client.get(f"{PRODUCTS}/{secret['id']}", headers=theirs),
        await client.put(f"{PRODUCTS}/{secret['id']}", json=product("ours-only"), headers=theirs),
        await client.post(f"{PRODUCTS}/{secret['id']}/prices", json=price, headers=theirs),
        await client.put(
            f"/api/v1/catalog/prices/{demo.adult_category_id}", json=price, headers=theirs
        ),
        await client.delete(f"/api/v1/catalog/prices/{demo.child_category_id}", headers=theirs),
        await client.get(
            f"{PRODUCTS}/{secret['id']}/capacities",
            params={"from": "2030-01-01", "to": "2030-01-01"},
            headers=theirs,
        ),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert "ours-only" not in " ".join(c.text for c in calls)
    day = (await client.get(f"{PRODUCTS}/{demo.day_ticket_id}", headers=ours)).json()
    assert [(c["code"], c["price"]) for c in day["price_categories"]] == [
        ("adult", 2000),
        ("child", 1000),
    ]


def _kiosk_sale(
    demo: DemoFacility, category_id: int, amount: int, quantity: int = 1
) -> dict[str, Any]:
    return {
        "headers": {
            "Authorization": f"Bearer {demo.kiosk_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
        "json": {
            "lines": [{"price_category_id": category_id, "quantity": quantity}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": str(uuid.uuid4()), "amount": amount},
        },
    }


async def test_a_capacity_never_drops_below_what_is_sold_and_held(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": "en"}
    sold = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 6000, 3)
    )
    assert sold.status_code == 201, sold.text
    today = facility_today("Asia/Tokyo")
    tomorrow = today.toordinal() + 1
    span = {
        "date_from": today.isoformat(),
        "date_to": type(today).fromordinal(tomorrow).isoformat(),
    }
    path = f"{PRODUCTS}/{demo.day_ticket_id}/capacities"
    low = await client.put(path, json={**span, "capacity": 2}, headers=headers)
    assert low.status_code == 409, low.text
    assert low.json()["code"] == "capacity_below_sold" and low.json()["dates"] == [
        today.isoformat()
    ]
    assert today.isoformat() in low.json()["detail"]
    rows = await query(db_settings, sa.select(Capacity.date, Capacity.capacity))
    assert rows == [(today, 500)]  # nothing changed, tomorrow not created either
    ok = await client.put(path, json={**span, "capacity": 3}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert [(c["date"], c["capacity"], c["sold"], c["explicit"]) for c in ok.json()] == [
        (span["date_from"], 3, 3, True),
        (span["date_to"], 3, 0, True),
    ]
    full = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2000)
    )
    assert full.status_code == 409, full.text  # the new capacity is what the kiosk sells
    audit = await query(
        db_settings, sa.select(AuditLog.data).where(AuditLog.action == "capacity.update")
    )
    assert [a["after"]["capacity"] for (a,) in audit] == [3]
    assert audit[0][0]["before"] == {today.isoformat(): 500}


async def test_timed_capacities_are_set_per_slot_and_listed_with_the_defaults(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    headers = await staff_headers(client, demo, "manager")
    path = f"{PRODUCTS}/{demo.timed_ticket_id}/capacities"
    slot = demo.timed_slots[0]
    day = {"date_from": "2030-03-01", "date_to": "2030-03-01"}
    unknown = await client.put(path, json={**day, "capacity": 5, "slot": "25:00"}, headers=headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_slot")
    done = await client.put(path, json={**day, "capacity": 5, "slot": slot}, headers=headers)
    assert done.status_code == 200, done.text
    listed = await client.get(
        path, params={"from": "2030-03-01", "to": "2030-03-01"}, headers=headers
    )
    by_slot = {c["slot"]: (c["capacity"], c["explicit"]) for c in listed.json()}
    assert by_slot == {s: ((5, True) if s == slot else (40, False)) for s in demo.timed_slots}
    backwards = await client.get(
        path, params={"from": "2030-03-02", "to": "2030-03-01"}, headers=headers
    )
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_range")


async def test_prices_are_added_changed_and_deleted_only_while_unsold(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    senior = {"code": "senior", "name_ja": "シニア", "name_en": "Senior", "price": 1500}
    added = await client.post(
        f"{PRODUCTS}/{demo.day_ticket_id}/prices", json=senior, headers=headers
    )
    assert added.status_code == 201, added.text
    twice = await client.post(
        f"{PRODUCTS}/{demo.day_ticket_id}/prices", json=senior, headers=headers
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "price_exists")
    assert twice.json()["price_id"] == added.json()["id"]  # a retried add finds its row
    negative = await client.post(
        f"{PRODUCTS}/{demo.day_ticket_id}/prices",
        json={**senior, "code": "n", "price": -1},
        headers=headers,
    )
    assert (negative.status_code, negative.json()["field"]) == (422, "price")
    price_path = f"/api/v1/catalog/prices/{added.json()['id']}"
    changed = await client.put(
        price_path, json={**senior, "price": 1400, "handling_fee": 100}, headers=headers
    )
    assert changed.status_code == 200 and (
        changed.json()["price"],
        changed.json()["handling_fee"],
    ) == (1400, 100)
    assert (await client.delete(price_path, headers=headers)).status_code == 204
    sold = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.child_category_id, 1000)
    )
    assert sold.status_code == 201, sold.text
    in_use = await client.delete(
        f"/api/v1/catalog/prices/{demo.child_category_id}", headers=headers
    )
    assert (in_use.status_code, in_use.json()["code"]) == (409, "price_in_use")
    day = (await client.get(f"{PRODUCTS}/{demo.day_ticket_id}", headers=headers)).json()
    assert day["has_orders"] and [(c["code"], c["in_use"]) for c in day["price_categories"]] == [
        ("adult", False),
        ("child", True),
    ]
    audit = await query(
        db_settings,
        sa.select(AuditLog.action, AuditLog.data)
        .where(AuditLog.action.like("price.%"))
        .order_by(AuditLog.id),
    )
    assert [a for a, _ in audit] == ["price.create", "price.update", "price.delete"]
    assert audit[1][1] == {
        "before": {"price": 1500, "handling_fee": 0},
        "after": {"price": 1400, "handling_fee": 100},
    }
    assert audit[2][1]["before"]["code"] == "senior" and audit[2][1]["after"] == {}


async def test_an_update_is_audited_with_the_changed_fields_and_a_sold_kind_stays(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    current = (await client.get(f"{PRODUCTS}/{demo.day_ticket_id}", headers=headers)).json()
    body = {k: current[k] for k in current if k not in ("id", "price_categories", "has_orders")}
    window = {"sale_starts_at": "2020-01-01T10:00:00+09:00"}
    first = await client.put(
        f"{PRODUCTS}/{demo.day_ticket_id}", json={**body, **window}, headers=headers
    )
    assert first.json()["sale_starts_at"] == "2020-01-01T01:00:00Z"
    body = {**body, "sale_starts_at": "2020-01-01T01:00:00Z"}  # the same instant
    changed = await client.put(
        f"{PRODUCTS}/{demo.day_ticket_id}",
        json={**body, "name_en": "Day pass", "closed_dates": ["2030-01-02", "2030-01-01"]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["closed_dates"] == ["2030-01-01", "2030-01-02"]
    (_, data) = [
        d
        for (d,) in await query(
            db_settings,
            sa.select(AuditLog.data)
            .where(AuditLog.action == "product.update")
            .order_by(AuditLog.id),
        )
    ]
    assert data == {
        "before": {"name_en": "Day ticket", "closed_dates": []},
        "after": {"name_en": "Day pass", "closed_dates": ["2030-01-01", "2030-01-02"]},
    }
    sold = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2000)
    )
    assert sold.status_code == 201, sold.text
    timed = {**body, "kind": "timed_admission", "slots": [{"label": "10:00", "capacity": 5}]}
    refused = await client.put(f"{PRODUCTS}/{demo.day_ticket_id}", json=timed, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "product_has_orders")


async def test_a_changed_price_and_a_deactivation_reach_the_kiosk_at_once(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    """The kiosk's cached catalogue (tenant_cache) follows config_version, which the
    triggers move on a price or product change."""
    headers = await staff_headers(client, demo, "manager")
    kiosk = {"Authorization": f"Bearer {demo.kiosk_token}"}
    first = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2000)
    )
    assert first.status_code == 201, first.text  # the cache holds the 2,000 yen price now
    adult = {"code": "adult", "name_ja": "大人", "name_en": "Adult", "price": 2300}
    changed = await client.put(
        f"/api/v1/catalog/prices/{demo.adult_category_id}", json=adult, headers=headers
    )
    assert changed.status_code == 200, changed.text
    catalog = (await client.get("/api/v1/kiosk/catalog", headers=kiosk)).json()
    day = next(p for p in catalog["products"] if p["code"] == "day")
    assert [c["price"] for c in day["price_categories"]] == [2300, 1000]
    old = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2000)
    )
    assert old.status_code == 409, old.text  # the old price is refused ...
    new = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2300)
    )
    assert new.status_code == 201, new.text  # ... and the new one charged
    current = (await client.get(f"{PRODUCTS}/{demo.day_ticket_id}", headers=headers)).json()
    body = {k: current[k] for k in current if k not in ("id", "price_categories", "has_orders")}
    off = await client.put(
        f"{PRODUCTS}/{demo.day_ticket_id}", json={**body, "active": False}, headers=headers
    )
    assert off.status_code == 200 and off.json()["active"] is False
    catalog = (await client.get("/api/v1/kiosk/catalog", headers=kiosk)).json()
    assert "day" not in {p["code"] for p in catalog["products"]}
    refused = await client.post(
        "/api/v1/kiosk/orders", **_kiosk_sale(demo, demo.adult_category_id, 2300)
    )
    assert refused.status_code == 422, refused.text
    listed = (await client.get(PRODUCTS, headers=headers)).json()
    assert [p["active"] for p in listed if p["code"] == "day"] == [False]  # kept, not deleted


async def test_a_product_created_by_the_api_is_sold_in_the_shop(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    created = await _create(
        client,
        headers,
        product("night", name_ja="ナイト券", name_en="Night ticket", daily_capacity=10),
    )
    price = {"code": "adult", "name_ja": "大人", "name_en": "Adult", "price": 1200}
    category = await client.post(f"{PRODUCTS}/{created['id']}/prices", json=price, headers=headers)
    assert category.status_code == 201, category.text
    html_client(client)
    page = await client.get(f"/shop/{demo.slug}")
    assert "ナイト券" in page.text
    form = {
        "checkout_id": str(uuid.uuid4()),
        "visit_date": visit_day(days_ahead=3).isoformat(),
        f"qty_{category.json()['id']}": "2",
        "email": "night@example.jp",
        "name": "山田花子",
        "consent_waiver": "on",
        "payment": "demo:card",
    }
    ticket_page = await pay_with_demo(
        client, await client.post(f"/shop/{demo.slug}/products/night", data=form)
    )
    assert ticket_page.status_code == 200, ticket_page.text
    orders = await query(
        db_settings,
        sa.select(Order.status, Order.total)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.product_id == created["id"]),
    )
    assert [(str(s), t) for s, t in orders] == [("paid", 2400)]


async def test_a_changed_price_is_on_the_shop_page_and_charged_there_at_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    html_client(client)
    before = await client.get(f"/shop/{demo.slug}/products/day")
    assert "2,000" in before.text and "2,450" not in before.text
    adult = {"code": "adult", "name_ja": "大人", "name_en": "Adult", "price": 2450}
    changed = await client.put(
        f"/api/v1/catalog/prices/{demo.adult_category_id}", json=adult, headers=headers
    )
    assert changed.status_code == 200, changed.text
    after = await client.get(f"/shop/{demo.slug}/products/day")
    assert "2,450" in after.text
    form = {
        "checkout_id": str(uuid.uuid4()),
        "visit_date": visit_day(days_ahead=3).isoformat(),
        f"qty_{demo.adult_category_id}": "1",
        "email": "price@example.jp",
        "name": "山田花子",
        "consent_waiver": "on",
        "payment": "demo:card",
    }
    paid = await pay_with_demo(
        client, await client.post(f"/shop/{demo.slug}/products/day", data=form)
    )
    assert paid.status_code == 200, paid.text
    totals = await query(
        db_settings,
        sa.select(OrderLine.unit_price).where(
            OrderLine.price_category_id == demo.adult_category_id
        ),
    )
    assert totals == [(2450,)]
