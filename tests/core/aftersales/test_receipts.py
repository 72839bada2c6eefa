"""Receipts (F5): a Japanese PDF with the registration number, the tax per rate, the
visitor's addressee and purpose; every later issue is marked 再発行 (reissue)."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pypdf
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_TAX_NUMBER, DemoFacility
from core_service.models import AuditLog, Order, Receipt
from core_service.platform.settings import Settings
from tests.support.aftersales import buy_online, login_mypage, order_path, staff_headers, tickets_of
from tests.support.web import query, visit_day


def receipt_path(demo: DemoFacility, code: str) -> str:
    return f"/shop/{demo.slug}/orders/{code}/receipt"


async def download(
    client: AsyncTestClient[Any], demo: DemoFacility, code: str, key: str, **form: str
) -> Any:
    return await client.post(
        receipt_path(demo, code),
        data={"key": key, "addressee": "株式会社キップ商事", "purpose": "入園料として", **form},
    )


def pdf_text(response: Any) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_receipt_pdf_has_everything_an_invoice_needs(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    code, key = await buy_online(client, demo)  # 2 × 2,000 + 1 × 1,000
    text = pdf_text(await download(client, demo, code, key))
    assert "領 収 書" in text and "再発行" not in text
    assert "キップ・アドベンチャーパーク" in text
    assert re.search(r"T\d{13}", text) and DEMO_TAX_NUMBER in text
    assert "株式会社キップ商事 様" in text and "但し 入園料として" in text
    assert "1日入園券 大人" in text and "1日入園券 小人" in text
    assert "金額 ￥5,000-" in text
    # Tax once per rate on the total: floor(5,000 × 10 / 110) = 454.
    assert "10%対象 ￥5,000" in text and "内消費税 ￥454" in text
    assert "クレジットカード" in text and code in text
    assert re.search(r"発行日 / Date: \d{4}年\d{1,2}月\d{1,2}日", text)


async def test_second_receipt_is_marked_as_a_reissue(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    first = pdf_text(await download(client, demo, code, key))
    second = pdf_text(await download(client, demo, code, key))
    assert "再発行" not in first and "再発行" in second
    rows = await query(db_settings, sa.select(Receipt.number, Receipt.reissue).order_by(Receipt.id))
    assert rows == [(f"{code}-1", False), (f"{code}-2", True)]
    actions = [r[0] for r in await query(db_settings, sa.select(AuditLog.action))]
    assert actions.count("receipt.issued") == 1 and actions.count("receipt.reissued") == 1
    form = await client.get(receipt_path(demo, code) + f"?key={key}")
    assert "再発行" in form.text


async def test_receipt_form_prefills_and_keeps_what_was_typed(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    form = await client.get(receipt_path(demo, code) + f"?key={key}")
    assert (
        form.status_code == 200
        and 'value="山田花子"' in form.text
        and 'value="入場料として"' in form.text
    )
    too_long = "あ" * 61
    refused = await download(client, demo, code, key, addressee=too_long)
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text and f'value="{too_long}"' in refused.text
    assert await query(db_settings, sa.select(Receipt.id)) == []


async def test_empty_purpose_prints_the_default(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    code, key = await buy_online(client, demo)
    text = pdf_text(await download(client, demo, code, key, purpose="", addressee=""))
    assert "但し 入場料として" in text


async def test_no_receipt_before_payment(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    client.follow_redirects = False
    started = await client.post(
        f"/shop/{demo.slug}/products/day",
        data={
            "checkout_id": str(uuid.uuid4()),
            "visit_date": visit_day().isoformat(),
            f"qty_{demo.adult_category_id}": "1",
            "email": "a@example.jp",
            "name": "A",
            "consent_waiver": "on",
            "payment": "demo:card",
        },
        headers={"accept": "text/html"},
    )
    assert started.status_code == 303
    code, key = (await query(db_settings, sa.select(Order.code, Order.access_key)))[0]
    refused = await download(client, demo, code, key)
    assert refused.status_code == 409 and "お支払い後" in refused.text


async def test_wrong_key_gets_no_receipt(client: AsyncTestClient[Any], demo: DemoFacility) -> None:
    code, _key = await buy_online(client, demo)
    assert (await download(client, demo, code, "guess")).status_code == 404


async def test_receipt_after_a_cancellation_shows_the_refund_and_the_net_tax(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    child = (await tickets_of(db_settings, code))[2]
    cancelled = await client.post(
        f"/api/v1/orders/{code}/cancel",
        json={"ticket_ids": [child.id]},
        headers={**await staff_headers(client, demo), "Idempotency-Key": "r-1"},
    )
    assert cancelled.status_code == 200
    text = pdf_text(await download(client, demo, code, key))
    assert "キャンセル返金" in text and "-￥1,000" in text
    # 4,000 yen remain: floor(4,000 × 10 / 110) = 363.
    assert "金額 ￥4,000-" in text and "10%対象 ￥4,000" in text and "内消費税 ￥363" in text


async def test_receipt_links_on_the_ticket_page_and_my_page(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    link = f"/shop/{demo.slug}/orders/{code}/receipt?key={key}"
    assert link in (await client.get(order_path(demo, code, key))).text
    await login_mypage(client, db_settings, demo)
    assert link in (await client.get(f"/shop/{demo.slug}/my")).text
