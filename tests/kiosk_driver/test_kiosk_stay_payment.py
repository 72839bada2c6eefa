"""Paying a time stay at the kiosk (精算) against the real core: the driver's journalled
stay payment and the touch screens, each checked at the gate's exit."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from escpos.printer import Dummy
from litestar import Litestar
from litestar.testing import TestClient

from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kiosk_driver.app import create_app as create_kiosk_ui
from kiosk_driver.config import KioskConfig
from kiosk_driver.core_client import OrderReply
from kiosk_driver.errors import (
    ConfirmationPending,
    CoreUnavailable,
    OrderConflict,
    PaymentDeclined,
)
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import PaymentResult, SimulatedTerminal
from kippu_contract.v1.kiosk import KioskOrderIn, KioskPaymentIn, OrderLineIn, StayOrderIn
from tests.support.kiosk import real_core_kiosk
from tests.support.stays import add_stay_product, move_back


@pytest.fixture
def core_http(app: Litestar, demo: DemoFacility) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def kiosk(core_http: TestClient[Litestar], demo: DemoFacility, tmp_path: Path) -> Kiosk:
    return real_core_kiosk(core_http, demo.kiosk_token, tmp_path)


@pytest.fixture
def stay_token(
    kiosk: Kiosk, core_http: TestClient[Litestar], demo: DemoFacility, db_settings: Settings
) -> str:
    """A stay ticket sold at the kiosk and entered at the gate 40 minutes ago (¥1,000)."""
    category_id = asyncio.run(add_stay_product(db_settings, demo))
    sale = kiosk.core.create_order(
        KioskOrderIn(
            lines=[OrderLineIn(category_id, 1)],
            answers={"consent_waiver": True},
            payment=KioskPaymentIn("card", "term-1", 0),
        ),
        idempotency_key="stay-ticket-1",
    )
    token = sale.answer.tickets[0].qr_token
    assert _gate(core_http, demo, token, "entry")["admitted"]
    asyncio.run(move_back(db_settings, entry=dt.timedelta(minutes=40), payments=dt.timedelta()))
    return token


def _gate(
    core_http: TestClient[Litestar], demo: DemoFacility, token: str, direction: str
) -> dict[str, Any]:
    response = core_http.post(
        "/api/v1/gate/scan",
        json={"token": token, "direction": direction},
        headers={"Authorization": f"Bearer {demo.gate_token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _terminal(kiosk: Kiosk) -> SimulatedTerminal:
    assert isinstance(kiosk.terminal, SimulatedTerminal)
    return kiosk.terminal


def _paper(kiosk: Kiosk) -> bytes:
    assert isinstance(kiosk.printer, Dummy)
    return bytes(kiosk.printer.output)


def _pay(kiosk: Kiosk, token: str, method: str = "card") -> str:
    """Quote the stay and journal its payment, as the pay button does."""
    return kiosk.prepare_stay(token, method, kiosk.stay_charge(token).period_total)


def test_a_paid_stay_prints_its_receipt_and_the_gate_lets_the_visitor_out(
    kiosk: Kiosk, core_http: TestClient[Litestar], demo: DemoFacility, stay_token: str
) -> None:
    assert _gate(core_http, demo, stay_token, "exit")["result"] == "payment_due"
    result = kiosk.complete(_pay(kiosk, stay_token))
    assert result.printed and result.confirmation.order.total == 1000
    record = kiosk.journal.get(result.sale_id)
    assert record is not None and record.state == SaleState.PRINTED
    assert record.receipt_printed_at is not None
    paper = _paper(kiosk).decode("shift_jis", errors="replace")
    assert "領収書" in paper and "利用料金（40分）" in paper
    # Shift_JIS prints ¥ where ASCII has a backslash; the tax inside ¥1,000 at 10%, floored.
    assert "(10%対象 \\1,000 内消費税 \\90)" in paper
    assert [r.amount for r in _terminal(kiosk).approved.values()] == [1000]
    assert kiosk.stay_charge(stay_token).due == 0
    assert _gate(core_http, demo, stay_token, "exit")["admitted"]


def test_a_declined_card_pays_nothing_and_the_exit_still_asks_for_payment(
    kiosk: Kiosk, core_http: TestClient[Litestar], demo: DemoFacility, stay_token: str
) -> None:
    _terminal(kiosk).queue(["decline"])
    sale_id = _pay(kiosk, stay_token)
    with pytest.raises(PaymentDeclined):
        kiosk.complete(sale_id)
    record = kiosk.journal.get(sale_id)
    assert record is not None and record.state == SaleState.FAILED
    charge = kiosk.stay_charge(stay_token)
    assert (charge.paid, charge.due) == (0, 1000)
    assert _gate(core_http, demo, stay_token, "exit")["result"] == "payment_due"
    assert _paper(kiosk) == b""


def test_a_quote_gone_stale_at_the_core_voids_the_payment_and_quotes_again(
    kiosk: Kiosk, db_settings: Settings, stay_token: str
) -> None:
    sale_id = _pay(kiosk, stay_token)  # quoted at 40 minutes: ¥1,000
    # The visitor dawdles at the terminal: the stay crosses into its third unit.
    asyncio.run(move_back(db_settings, entry=dt.timedelta(minutes=25), payments=dt.timedelta()))
    with pytest.raises(OrderConflict):
        kiosk.complete(sale_id)
    record = kiosk.journal.get(sale_id)
    assert record is not None and record.state == SaleState.VOIDED
    assert _terminal(kiosk).voided == [record.payment_ref]
    fresh = kiosk.stay_charge(stay_token)
    assert (fresh.minutes, fresh.paid, fresh.due) == (65, 0, 1500)
    # The old quote is refused before the terminal is asked again.
    with pytest.raises(OrderConflict):
        kiosk.prepare_stay(stay_token, "card", 1000)
    assert kiosk.complete(kiosk.prepare_stay(stay_token, "card", fresh.period_total)).printed
    assert kiosk.stay_charge(stay_token).due == 0


def test_a_crash_between_terminal_and_core_is_confirmed_on_restart(
    kiosk: Kiosk,
    core_http: TestClient[Litestar],
    demo: DemoFacility,
    stay_token: str,
    tmp_path: Path,
) -> None:
    sale_id = _pay(kiosk, stay_token)
    kiosk.terminal.charge(1000, "card", sale_id)  # the money moved, then the kiosk died
    kiosk.jobs.clear()  # a new process knows no running jobs
    assert kiosk.stay_charge(stay_token).due == 1000
    report = kiosk.resume()
    assert report.confirmed == [sale_id] and report.printed == [sale_id]
    assert len(_terminal(kiosk).approved) == 1 and not _terminal(kiosk).voided
    assert "利用料金".encode("shift_jis") in _paper(kiosk)
    assert _gate(core_http, demo, stay_token, "exit")["admitted"]


def test_a_core_down_after_the_terminal_keeps_the_payment_for_resume(
    kiosk: Kiosk,
    core_http: TestClient[Litestar],
    demo: DemoFacility,
    stay_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sale_id = _pay(kiosk, stay_token)
    pay_stay = kiosk.core.pay_stay

    def core_down(payment: StayOrderIn) -> OrderReply:
        raise CoreUnavailable("core unreachable")

    monkeypatch.setattr(kiosk.core, "pay_stay", core_down)
    with pytest.raises(ConfirmationPending):
        kiosk.complete(sale_id)
    record = kiosk.journal.get(sale_id)
    assert record is not None and record.state == SaleState.PAID  # never voided blind
    assert _terminal(kiosk).voided == [] and kiosk.stay_charge(stay_token).due == 1000
    monkeypatch.setattr(kiosk.core, "pay_stay", pay_stay)  # the core is back
    assert kiosk.resume().printed == [sale_id]
    assert len(_terminal(kiosk).approved) == 1
    assert _gate(core_http, demo, stay_token, "exit")["admitted"]


def test_nothing_due_takes_no_payment(kiosk: Kiosk, stay_token: str) -> None:
    kiosk.complete(_pay(kiosk, stay_token))
    with pytest.raises(OrderConflict):
        _pay(kiosk, stay_token)
    assert len(_terminal(kiosk).approved) == 1


# -- the touch screens ------------------------------------------------------------------


@pytest.fixture
def ui(kiosk: Kiosk) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_kiosk_ui(kiosk, KioskConfig(idle_seconds=45))) as client:
        yield client


def _settle(kiosk: Kiosk, ui: TestClient[Litestar], location: str) -> Any:
    sale_id = location.rsplit("/", 1)[1]
    for _ in range(500):
        if kiosk.jobs[sale_id].done:
            break
        time.sleep(0.01)
    return ui.get(location)


def test_the_screens_walk_from_the_start_screen_to_the_way_out(
    kiosk: Kiosk,
    ui: TestClient[Litestar],
    core_http: TestClient[Litestar],
    demo: DemoFacility,
    stay_token: str,
) -> None:
    start = ui.get("/")
    assert 'href="/stay"' in start.text and "精算" in start.text
    assert "QRコード" in ui.get("/stay").text
    quote = ui.post("/stay/charge", data={"code": stay_token})
    assert quote.status_code == 200
    assert "40 分" in quote.text and "¥0" in quote.text and "¥1,000" in quote.text
    paying = ui.post(
        "/stay/pay",
        data={"token": stay_token, "period_total": "1000", "method": "card"},
        follow_redirects=False,
    )
    assert paying.status_code in (302, 303), paying.text
    done = _settle(kiosk, ui, paying.headers["location"])
    assert done.status_code == 200
    assert "15分以内に出口からお出になれます" in done.text and "領収書をお取りください" in done.text
    ui.cookies.set("lang", "en")
    assert "Hold your ticket" in ui.get("/stay").text
    again = ui.post("/stay/charge", data={"code": stay_token})
    assert "Nothing to pay" in again.text and 'action="/stay/pay"' not in again.text
    assert _gate(core_http, demo, stay_token, "exit")["admitted"]
    gone = ui.post("/stay/charge", data={"code": stay_token})  # the stay is over
    assert gone.status_code == 404 and "No stay in progress" in gone.text


def test_the_screen_shows_the_new_amount_when_time_went_on(
    kiosk: Kiosk, ui: TestClient[Litestar], db_settings: Settings, stay_token: str
) -> None:
    asyncio.run(move_back(db_settings, entry=dt.timedelta(minutes=25), payments=dt.timedelta()))
    ui.cookies.set("lang", "en")
    page = ui.post(
        "/stay/pay",
        data={"token": stay_token, "period_total": "1000", "method": "card"},
        follow_redirects=False,
    )
    assert page.status_code == 200
    assert "the amount has changed" in page.text and "¥1,500" in page.text
    assert _terminal(kiosk).approved == {}


def test_the_waiting_page_quotes_again_when_the_core_refused_the_paid_quote(
    kiosk: Kiosk,
    ui: TestClient[Litestar],
    db_settings: Settings,
    stay_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _terminal(kiosk)
    charge = terminal.charge

    def slow_charge(amount: int, method: str, key: str) -> PaymentResult:
        result = charge(amount, method, key)
        # The card took a while: the stay crossed into its third unit meanwhile.
        asyncio.run(move_back(db_settings, entry=dt.timedelta(minutes=25), payments=dt.timedelta()))
        return result

    monkeypatch.setattr(terminal, "charge", slow_charge)
    ui.cookies.set("lang", "en")
    paying = ui.post(
        "/stay/pay",
        data={"token": stay_token, "period_total": "1000", "method": "card"},
        follow_redirects=False,
    )
    page = _settle(kiosk, ui, paying.headers["location"])
    assert page.status_code == 200
    assert "the amount has changed" in page.text and "¥1,500" in page.text
    assert len(terminal.voided) == 1 and kiosk.stay_charge(stay_token).paid == 0


def test_a_declined_card_says_so_on_the_screen(
    kiosk: Kiosk, ui: TestClient[Litestar], stay_token: str
) -> None:
    _terminal(kiosk).queue(["decline"])
    paying = ui.post(
        "/stay/pay",
        data={"token": stay_token, "period_total": "1000", "method": "card"},
        follow_redirects=False,
    )
    page = _settle(kiosk, ui, paying.headers["location"])
    assert page.status_code == 402 and "お支払いが承認されませんでした" in page.text
    assert kiosk.stay_charge(stay_token).due == 1000


def test_an_unknown_code_is_refused_with_a_message(ui: TestClient[Litestar]) -> None:
    ui.cookies.set("lang", "en")
    page = ui.post("/stay/charge", data={"code": "not-a-ticket"})
    assert page.status_code in (404, 422)
    assert "could not be read" in page.text or "No stay in progress" in page.text
