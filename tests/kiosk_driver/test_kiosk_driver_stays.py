"""The kiosk driver's client for time stays against the real core app (contract): the
charge of a scanned stay, paying it, and the replay of the same period."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kiosk_driver.core_client import CoreClient
from kiosk_driver.errors import OrderConflict
from kippu_contract.v1.kiosk import (
    KioskOrderIn,
    KioskPaymentIn,
    OrderLineIn,
    StayChargeOut,
    StayOrderIn,
)
from tests.support.stays import add_stay_product, move_back


@pytest.fixture
def core_http(app: Litestar, demo: DemoFacility) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def stay_token(core_http: TestClient[Litestar], demo: DemoFacility, db_settings: Settings) -> str:
    """A stay ticket sold through the driver's client and entered 40 minutes ago."""
    category_id = asyncio.run(add_stay_product(db_settings, demo))
    client = CoreClient(str(core_http.base_url), demo.kiosk_token, http=core_http)
    sale = client.create_order(
        KioskOrderIn(
            lines=[OrderLineIn(category_id, 1)],
            answers={"consent_waiver": True},
            payment=KioskPaymentIn("card", "term-1", 0),
        ),
        idempotency_key="stay-ticket-1",
    )
    token = sale.answer.tickets[0].qr_token
    entry = core_http.post(
        "/api/v1/gate/scan",
        json={"token": token, "direction": "entry"},
        headers={"Authorization": f"Bearer {demo.gate_token}"},
    )
    assert entry.json()["admitted"], entry.text
    asyncio.run(move_back(db_settings, entry=dt.timedelta(minutes=40), payments=dt.timedelta()))
    return token


def _pay(charge: StayChargeOut, token: str, amount: int | None = None) -> StayOrderIn:
    payment = KioskPaymentIn("card", "term-2", charge.due if amount is None else amount)
    return StayOrderIn(token=token, period_total=charge.period_total, payment=payment)


def test_the_client_reads_the_charge_and_pays_it_once(
    core_http: TestClient[Litestar], demo: DemoFacility, stay_token: str
) -> None:
    client = CoreClient(str(core_http.base_url), demo.kiosk_token, http=core_http)
    charge = client.stay_charge(stay_token)
    assert (charge.minutes, charge.due, charge.period_total) == (40, 1000, 1000)
    assert "1,000" in charge.message_ja and "1,000" in charge.message_en
    paid = client.pay_stay(_pay(charge, stay_token))
    assert not paid.replayed and paid.answer.order.total == 1000 and paid.answer.tickets == []
    again = client.pay_stay(_pay(charge, stay_token))
    assert again.replayed and again.answer.order.code == paid.answer.order.code
    assert client.stay_charge(stay_token).due == 0


def test_a_wrong_amount_is_an_order_conflict_the_kiosk_voids(
    core_http: TestClient[Litestar], demo: DemoFacility, stay_token: str
) -> None:
    client = CoreClient(str(core_http.base_url), demo.kiosk_token, http=core_http)
    charge = client.stay_charge(stay_token)
    with pytest.raises(OrderConflict):
        client.pay_stay(_pay(charge, stay_token, amount=500))
    assert client.stay_charge(stay_token).due == 1000
