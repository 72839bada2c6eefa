"""Qualified invoices (適格請求書, issue 17.4): only a facility with a valid registration
number issues them; reduced-rate items are marked ※ with the tax per rate; long orders
run on to further pages. The tests read the text of the PDF itself."""

from __future__ import annotations

import io
from typing import Any

import pypdf
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.aftersales.receipts import ReceiptData, ReceiptItem, render_pdf
from core_service.demo.data import DEMO_TAX_NUMBER, DemoFacility
from core_service.models import Facility
from core_service.orders.tax import tax_summary
from core_service.platform.settings import Settings
from tests.core.aftersales.test_receipts import download, pdf_text
from tests.support.aftersales import buy_online, staff_headers
from tests.support.web import query, run_in_session


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _receipt(items: list[ReceiptItem], *, number: str = DEMO_TAX_NUMBER) -> ReceiptData:
    totals: dict[int, int] = {}
    for item in items:
        totals[item.tax_rate] = totals.get(item.tax_rate, 0) + item.amount
    return ReceiptData(
        number="R-1",
        reissue=False,
        issued_on="2026年12月8日",
        facility_name="キップ・アドベンチャーパーク",
        facility_name_en="Kippu Adventure Park",
        registration_number=number,
        qualified=bool(number),
        contact="",
        order_code="K000001",
        addressee="",
        purpose="入場料として",
        items=tuple(items),
        total=sum(totals.values()),
        taxes=tuple(tax_summary(totals.items())),
        payment_method="クレジットカード / Credit card",
    )


def test_reduced_rate_items_are_marked_and_taxed_per_rate() -> None:
    text = "\n".join(
        _pages(
            render_pdf(
                _receipt(
                    [
                        ReceiptItem("1日入園券 大人", 2000, 2, 4000, 10),
                        ReceiptItem("ランチボックス", 1080, 1, 1080, 8),
                    ]
                )
            )
        )
    )
    assert "ランチボックス※ (8%)" in text and "1日入園券 大人 (10%)" in text
    assert "1日入園券 大人※" not in text
    # Tax once per rate: floor(4,000 × 10 / 110) = 363, floor(1,080 × 8 / 108) = 80.
    assert "10%対象 ￥4,000" in text and "内消費税 ￥363" in text
    assert "8%対象 ※軽減税率 ￥1,080" in text and "内消費税 ￥80" in text
    assert "※は軽減税率対象" in text
    assert "適格請求書" in text and f"登録番号 / Registration No.: {DEMO_TAX_NUMBER}" in text


def test_a_long_order_runs_on_to_numbered_pages_with_the_totals_at_the_end() -> None:
    items = [ReceiptItem(f"体験プログラム{n:02d}", 1000, 1, 1000, 10) for n in range(40)]
    pages = _pages(render_pdf(_receipt(items)))
    assert len(pages) >= 3
    text = "\n".join(pages)
    assert all(f"体験プログラム{n:02d}" in text for n in range(40))
    assert all(f"{i} / {len(pages)}" in page for i, page in enumerate(pages, start=1))
    assert all("No. R-1" in page and "登録番号" in page for page in pages)
    assert "10%対象 ￥40,000" in pages[-1]
    assert all("10%対象" not in page for page in pages[:-1])
    assert "(続き)" in pages[1] and "金額 ￥40,000-" in pages[0]


def test_a_short_order_is_one_page_without_page_numbers() -> None:
    pages = _pages(render_pdf(_receipt([ReceiptItem("1日入園券 大人", 2000, 1, 2000, 10)])))
    assert len(pages) == 1 and "1 / 1" not in pages[0]


async def _set_number(settings: Settings, facility_id: int, number: str) -> None:
    async def work(session: Any) -> None:
        facility = await session.get(Facility, facility_id)
        facility.tax_registration_number = number
        await session.commit()

    await run_in_session(settings, work)


async def test_without_a_registration_number_the_receipt_is_not_a_qualified_invoice(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await _set_number(db_settings, demo.facility_id, "")
    code, key = await buy_online(client, demo)
    text = pdf_text(await download(client, demo, code, key))
    assert "領 収 書" in text and "適格請求書" not in text and "登録番号" not in text
    assert "10%対象 ￥5,000" in text  # the tax is still shown per rate


async def test_an_invalid_stored_number_is_not_printed_as_a_qualified_invoice(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    # A number stored before numbers were checked (the old demo's T1234567890123).
    await _set_number(db_settings, demo.facility_id, "T1234567890123")
    code, key = await buy_online(client, demo)
    text = pdf_text(await download(client, demo, code, key))
    assert "適格請求書" not in text and "T1234567890123" not in text


async def test_the_settings_api_checks_the_registration_number(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    owner = await staff_headers(client, demo, role="owner")
    path = "/api/v1/facility/settings"
    refused = await client.put(
        path, json={"tax_registration_number": "T1234567890123"}, headers=owner
    )
    assert refused.status_code == 422 and "チェックデジット" in refused.json()["detail"]
    stored = await query(db_settings, sa.select(Facility.tax_registration_number))
    assert stored == [(DEMO_TAX_NUMBER,)]
    saved = await client.put(
        path, json={"tax_registration_number": " T7000012050002 "}, headers=owner
    )
    assert saved.status_code == 200 and saved.json()["tax_registration_number"] == "T7000012050002"
    cleared = await client.put(path, json={"tax_registration_number": ""}, headers=owner)
    assert cleared.json()["tax_registration_number"] == ""
    assert await query(db_settings, sa.select(Facility.tax_registration_number)) == [("",)]
