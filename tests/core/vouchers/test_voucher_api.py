"""The managers' voucher API: managers and owners only, each facility its own vouchers,
codes unique regardless of case, bad input refused with ja/en messages, every create and
change in the audit log; and the kiosk sells with a code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, Voucher
from core_service.platform.settings import Settings
from kippu_contract.roles import ROLES, role_at_least
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.web import query

VOUCHERS = "/api/v1/vouchers"


async def _create(client: AsyncTestClient[Any], headers: dict[str, str], **body: Any) -> Any:
    return await client.post(
        VOUCHERS,
        json={"code": "Summer-10", "kind": "percent", "value": 10, **body},
        headers=headers,
    )


async def test_a_manager_creates_lists_and_changes_a_voucher_with_audit_rows(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    created = await _create(
        client,
        headers,
        product_ids=[demo.day_ticket_id],
        max_uses=50,
        valid_from="2026-07-01",
        valid_until="2026-08-31",
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["uses"], body["product_ids"]) == (
        "SUMMER-10",
        0,
        [demo.day_ticket_id],
    )
    # Facility-local (Asia/Tokyo) days: from 1 July 00:00, until the end of 31 August.
    assert body["valid_from"].startswith("2026-06-30T15:00:00")
    assert body["valid_until"].startswith("2026-08-31T15:00:00")
    changed = await client.patch(
        f"{VOUCHERS}/{body['id']}",
        json={"value": 20, "active": False, "clear": ["max_uses"]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["value"], changed.json()["active"], changed.json()["max_uses"]) == (
        20,
        False,
        None,
    )
    listed = await client.get(VOUCHERS, headers=headers)
    assert [(v["code"], v["value"]) for v in listed.json()] == [("SUMMER-10", 20)]
    actions = await query(
        db_settings,
        sa.select(AuditLog.action, AuditLog.subject).where(AuditLog.action.like("voucher.%")),
    )
    assert actions == [
        ("voucher.created", f"voucher:{body['id']}"),
        ("voucher.changed", f"voucher:{body['id']}"),
    ]


async def test_codes_are_unique_per_facility_regardless_of_case(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    assert (await _create(client, headers)).status_code == 201
    again = await _create(client, headers, code="summer-10")
    assert again.status_code == 409
    assert again.json()["detail"] and again.json()["code"] == "conflict"
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    theirs = await staff_headers(client, other, "manager")
    assert (await _create(client, theirs)).status_code == 201  # their own SUMMER-10


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "percent", "value": 0},
        {"kind": "percent", "value": 101},
        {"kind": "fixed", "value": -5},
        {"kind": "half", "value": 5},
        {"code": "a!"},
        {"max_uses": 0},
        {"valid_from": "next week"},
        {"valid_from": "2026-08-01", "valid_until": "2026-07-01"},
        {"product_ids": [2_000_000_000]},
    ],
)
async def test_bad_vouchers_are_refused_and_nothing_is_stored(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings, body: dict
) -> None:
    headers = await staff_headers(client, demo, "manager")
    refused = await _create(client, headers, **body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_voucher"
    assert refused.json()["detail"]
    assert await query(db_settings, sa.select(Voucher.id)) == []


async def test_another_facilitys_voucher_cannot_be_changed_or_seen(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    ours = await staff_headers(client, demo, "manager")
    voucher_id = (await _create(client, ours)).json()["id"]
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    theirs = await staff_headers(client, other, "owner")
    assert (await client.get(VOUCHERS, headers=theirs)).json() == []
    refused = await client.patch(f"{VOUCHERS}/{voucher_id}", json={"value": 99}, headers=theirs)
    assert refused.status_code == 404
    assert (await query(db_settings, sa.select(Voucher.value))) == [(10,)]


async def test_roles_below_manager_are_refused(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    for role in ROLES:
        headers = await staff_headers(client, demo, role)
        listed = await client.get(VOUCHERS, headers=headers)
        assert listed.status_code == (200 if role_at_least(role, "manager") else 403), role


async def test_the_kiosk_sells_with_a_voucher_code(
    client: AsyncTestClient[Any], demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    manager = await staff_headers(client, demo, "manager")
    assert (await _create(client, manager, code="KIOSK300", kind="fixed", value=300)).is_success
    sale = {
        "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
        "answers": {"consent_waiver": True},
        "payment": {"method": "qr", "reference": "t-1", "amount": 1700},
        "voucher_code": "kiosk300",
    }
    sold = await client.post(
        "/api/v1/kiosk/orders",
        json=sale,
        headers={**kiosk_headers, "Idempotency-Key": "voucher-sale-1"},
    )
    assert sold.status_code == 201, sold.text
    order = sold.json()["order"]
    assert (order["total"], order["discount"], order["voucher_code"]) == (1700, 300, "KIOSK300")
    assert order["lines"][0]["discount"] == 300
    unknown = await client.post(
        "/api/v1/kiosk/orders",
        json={**sale, "voucher_code": "NOPE"},
        headers={**kiosk_headers, "Idempotency-Key": "voucher-sale-2"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "voucher_unknown"


async def test_an_expired_code_is_refused_at_the_kiosk(
    client: AsyncTestClient[Any], demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    manager = await staff_headers(client, demo, "manager")
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    assert (await _create(client, manager, valid_until=yesterday)).is_success
    sale = {
        "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
        "answers": {"consent_waiver": True},
        "payment": {"method": "qr", "reference": "t-1", "amount": 1800},
        "voucher_code": "SUMMER-10",
    }
    refused = await client.post(
        "/api/v1/kiosk/orders",
        json=sale,
        headers={**kiosk_headers, "Idempotency-Key": "voucher-sale-3"},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "voucher_not_valid"


async def test_the_kiosk_asks_what_to_charge_before_the_terminal_charges(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    db_settings: Settings,
) -> None:
    manager = await staff_headers(client, demo, "manager")
    assert (await _create(client, manager, max_uses=1)).is_success  # SUMMER-10, 10%
    lines = [
        {"price_category_id": demo.adult_category_id, "quantity": 2},
        {"price_category_id": demo.child_category_id, "quantity": 1},
    ]
    quoted = await client.post(
        "/api/v1/kiosk/voucher-quote",
        json={"lines": lines, "voucher_code": "summer-10"},
        headers=kiosk_headers,
    )
    assert quoted.status_code == 200, quoted.text
    assert quoted.json() == {"voucher_code": "SUMMER-10", "discount": 500, "total": 4500}
    # A quote takes nothing: the one use is still there for the sale.
    assert await query(db_settings, sa.select(Voucher.uses)) == [(0,)]
    sold = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": lines,
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-9", "amount": quoted.json()["total"]},
            "voucher_code": "summer-10",
        },
        headers={**kiosk_headers, "Idempotency-Key": "voucher-sale-9"},
    )
    assert sold.status_code == 201, sold.text
    again = await client.post(
        "/api/v1/kiosk/voucher-quote",
        json={"lines": lines, "voucher_code": "SUMMER-10"},
        headers=kiosk_headers,
    )
    assert again.status_code == 409 and again.json()["code"] == "voucher_used_up"
