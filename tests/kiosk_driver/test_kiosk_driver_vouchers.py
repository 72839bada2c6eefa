"""Voucher codes at the kiosk, against the real core: the pay screen asks the core what a
code takes off, the terminal charges the discounted total, the order carries the code;
a refused code is said on the screen and charges nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kiosk_driver.app import create_app
from kiosk_driver.config import KioskConfig
from kiosk_driver.errors import CoreRefused
from kiosk_driver.sale import Kiosk
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support.kiosk import real_core_kiosk
from tests.support.vouchers import add_voucher


@pytest.fixture
def kiosk(
    app: Litestar, demo: DemoFacility, db_settings: Settings, tmp_path: Path
) -> Iterator[Kiosk]:
    asyncio.run(add_voucher(db_settings, demo.facility_id, kind="fixed", value=300))  # SPRING
    with TestClient(app=app) as core_http:
        yield real_core_kiosk(core_http, demo.kiosk_token, tmp_path)


def _answers(kiosk: Kiosk) -> dict[str, bool]:
    return {f.name: True for f in kiosk.catalog(refresh=True).checkout_fields if f.required}


def test_a_sale_with_a_code_charges_the_discounted_total(kiosk: Kiosk, demo: DemoFacility) -> None:
    result = kiosk.sell(
        [OrderLineIn(demo.adult_category_id, 2)], "card", _answers(kiosk), "ja", "spring"
    )
    order = result.confirmation.order
    assert (order.total, order.discount, order.voucher_code) == (3700, 300, "SPRING")
    record = kiosk.journal.get(result.sale_id)
    assert record is not None and record.request["amount"] == 3700
    kiosk.print_receipt(result.sale_id)
    assert b"SPRING" in kiosk.printer.output and b"-" in kiosk.printer.output


def test_a_refused_code_takes_no_money_and_journals_nothing(
    kiosk: Kiosk, demo: DemoFacility
) -> None:
    with pytest.raises(CoreRefused):
        kiosk.sell([OrderLineIn(demo.adult_category_id, 1)], "card", _answers(kiosk), "ja", "NOPE")
    assert kiosk.journal.recent() == []


def test_the_pay_screen_shows_the_discount_or_says_the_code_cannot_be_used(
    kiosk: Kiosk, demo: DemoFacility
) -> None:
    with TestClient(app=create_app(kiosk, KioskConfig(idle_seconds=45))) as screen:
        cart = f"{demo.adult_category_id}:2"
        page = screen.get(
            "/pay", params={"cart": cart, "answers": "consent_waiver", "voucher": "spring"}
        )
        assert page.status_code == 200, page.text
        discount = page.text.split('id="discount"', 1)[1].split("</div>", 1)[0]
        assert "SPRING" in discount and "300" in discount
        assert "3,700" in page.text
        assert 'name="voucher" value="SPRING"' in page.text  # sent on with the payment
        refused = screen.get("/pay", params={"cart": cart, "voucher": "NOPE"})
        assert 'id="voucher-refused"' in refused.text and "4,000" in refused.text
        assert "このクーポンコードはお使いいただけません" in refused.text
        paying = screen.post(
            "/pay/submit",
            data={"cart": cart, "answers": "consent_waiver", "method": "card", "voucher": "SPRING"},
            follow_redirects=False,
        )
        sale_id = paying.headers["location"].rsplit("/", 1)[1]
    for _ in range(500):
        if kiosk.jobs[sale_id].done:
            break
        time.sleep(0.01)
    record = kiosk.journal.get(sale_id)
    assert record is not None
    assert (record.request["voucher_code"], record.request["amount"]) == ("SPRING", 3700)
    assert record.confirmation is not None
    assert record.confirmation["order"]["discount"] == 300
