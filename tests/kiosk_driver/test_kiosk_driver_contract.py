"""The kiosk driver against the real core app (contract), through Litestar's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from core_service.demo.data import DemoFacility
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kippu_contract.v1.kiosk import KioskOrderIn, KioskPaymentIn, OrderLineIn
from tests.support.kiosk import real_core_kiosk


@pytest.fixture
def core_http(app: Litestar, demo: DemoFacility) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def kiosk(core_http: TestClient[Litestar], demo: DemoFacility, tmp_path: Path) -> Kiosk:
    return real_core_kiosk(core_http, demo.kiosk_token, tmp_path)


def test_real_core_sale_prints_the_core_signed_tokens(kiosk: Kiosk, demo: DemoFacility) -> None:
    catalog = kiosk.catalog(refresh=True)
    answers = {f.name: True for f in catalog.checkout_fields if f.required}
    result = kiosk.sell([OrderLineIn(demo.adult_category_id, 2)], "card", answers, "ja")
    assert result.printed and len(result.confirmation.tickets) == 2
    for ticket in result.confirmation.tickets:
        assert ticket.qr_token.encode() in kiosk.printer.output
    assert kiosk.journal.get(result.sale_id).state == SaleState.PRINTED
    kiosk.print_receipt(result.sale_id)
    assert kiosk.heartbeat()


def test_real_core_replays_the_same_order_for_the_same_key(
    kiosk: Kiosk, demo: DemoFacility
) -> None:
    catalog = kiosk.catalog(refresh=True)
    answers = {f.name: True for f in catalog.checkout_fields if f.required}
    result = kiosk.sell([OrderLineIn(demo.coupon_category_id, 1)], "emoney", answers)
    record = kiosk.journal.get(result.sale_id)
    assert record is not None and record.payment_ref
    replay = kiosk.core.create_order(
        KioskOrderIn(
            lines=[OrderLineIn(demo.coupon_category_id, 1)],
            answers=answers,
            payment=KioskPaymentIn("emoney", record.payment_ref, record.request["amount"]),
        ),
        idempotency_key=result.sale_id,
    )
    assert replay.replayed and replay.answer.order.code == result.confirmation.order.code
