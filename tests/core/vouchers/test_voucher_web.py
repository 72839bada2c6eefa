"""Vouchers on the web shop (the code field, "Apply" showing the discount before paying,
refusals beside the field) and after the sale: the receipt's discount line and tax per
rate, and cancellation refunding what was paid."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import Order, Payment, Voucher
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.settings import Settings
from tests.core.aftersales.test_receipts import download, pdf_text
from tests.support.aftersales import buy_online, html_client, order_row, staff_headers
from tests.support.csrf import page_token
from tests.support.vouchers import add_voucher
from tests.support.web import pay_with_demo, query, visit_day


def _form(demo: DemoFacility, **extra: str) -> dict[str, str]:
    return {
        "checkout_id": str(uuid.uuid4()),
        "visit_date": visit_day().isoformat(),
        f"qty_{demo.adult_category_id}": "2",
        f"qty_{demo.child_category_id}": "1",
        "email": "hanako@example.jp",
        "consent_waiver": "on",
        "payment": "demo:card",
        **extra,
    }


async def test_apply_shows_the_discount_before_buying_and_keeps_the_form(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_voucher(db_settings, demo.facility_id)  # SPRING, 15%
    html_client(client)
    page = await client.post(
        f"/shop/{demo.slug}/products/day",
        data=_form(demo, voucher_code="spring", action="apply_voucher"),
    )
    assert page.status_code == 200, page.text
    preview = page.text.split('id="voucher-preview"', 1)[1].split("</p>", 1)[0]
    # 15% of 5,000 yen of tickets: 750 off, 4,250 to pay.
    assert "-￥750" in preview or "-750円" in preview, preview
    assert "4,250" in preview and "5,000" in preview
    assert 'value="hanako@example.jp"' in page.text and 'value="spring"' in page.text
    assert page_token(page.text)  # the CSRF input is still in the form
    assert await query(db_settings, sa.select(Order.id)) == []


async def test_an_unknown_code_is_shown_beside_the_field_and_nothing_is_bought(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    html_client(client)
    for action in ("apply_voucher", ""):
        page = await client.post(
            f"/shop/{demo.slug}/products/day", data=_form(demo, voucher_code="NOPE", action=action)
        )
        assert page.status_code == 422, page.text
        assert 'id="voucher_code-error"' in page.text
        assert "このクーポンコードは存在しません。" in page.text
        assert FORM_FIELD in page.text
    assert await query(db_settings, sa.select(Order.id)) == []


async def test_buying_with_a_code_pays_the_discounted_total(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_voucher(db_settings, demo.facility_id)
    html_client(client)
    response = await client.post(
        f"/shop/{demo.slug}/products/day", data=_form(demo, voucher_code="SPRING")
    )
    assert response.status_code == 303, response.text
    pay_page = await client.get(response.headers["location"])
    assert "SPRING" in pay_page.text and "750" in pay_page.text
    rows = await query(
        db_settings,
        sa.select(Order.total, Order.discount, Payment.amount).join(
            Payment, Payment.order_id == Order.id
        ),
    )
    assert rows == [(4250, 750, 4250)]
    ticket_page = await pay_with_demo(client, response)
    assert "割引 (SPRING): -" in ticket_page.text and "750" in ticket_page.text


async def test_the_receipt_shows_the_discount_and_the_tax_on_what_was_paid(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await add_voucher(db_settings, demo.facility_id)
    code, key = await buy_online(client, demo, voucher_code="SPRING")
    text = pdf_text(await download(client, demo, code, key))
    assert "割引 / Discount (SPRING)" in text
    assert "-￥600" in text and "-￥150" in text
    assert "金額 ￥4,250-" in text
    # Tax once per rate on the discounted total: floor(4,250 × 10 / 110) = 386.
    assert "10%対象 ￥4,250" in text and "内消費税 ￥386" in text


async def test_cancelling_refunds_what_was_paid_and_keeps_the_use(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    voucher_id = await add_voucher(db_settings, demo.facility_id, max_uses=5)
    code, _ = await buy_online(client, demo, voucher_code="SPRING")
    headers = {**await staff_headers(client, demo), "Idempotency-Key": str(uuid.uuid4())}
    cancelled = await client.post(f"/api/v1/orders/{code}/cancel", json={}, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["order_status"], body["refund_amount"]) == ("cancelled", 4250)
    assert (await order_row(db_settings, code)).total == 4250
    uses = await query(db_settings, sa.select(Voucher.uses).where(Voucher.id == voucher_id))
    assert uses == [(1,)]
