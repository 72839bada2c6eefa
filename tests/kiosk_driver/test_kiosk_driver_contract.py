"""The kiosk driver against the real core app (contract), through Litestar's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from escpos.printer import Dummy
from litestar import Litestar
from litestar.testing import TestClient

from core_service.demo.data import DemoFacility
from kiosk_driver.core_client import CoreClient
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import KioskOrderIn, KioskPaymentIn, OrderLineIn


@pytest.fixture
def core_http(app: Litestar, demo: DemoFacility) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def kiosk(core_http: TestClient[Litestar], demo: DemoFacility, tmp_path: Path) -> Kiosk:
    profile = resolve_profile("epson-tm-t88-ja")
    return Kiosk(
        CoreClient(str(core_http.base_url), demo.kiosk_token, http=core_http),
        SimulatedTerminal(),
        Dummy(profile=profile.escpos_profile),
        profile,
        Journal(tmp_path / "journal.sqlite3"),
        retry_delay=0,
        sleep=lambda _: None,
    )


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
