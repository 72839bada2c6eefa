"""A real headless browser (Playwright + Debian's chromium) buys tickets at the kiosk.

Both services run for real with uvicorn on free loopback ports: the core (``create_app``
over a migrated, demo-seeded SQLite database) and the kiosk driver's UI talking to it
over HTTP. The browser clicks through product, quantity, consent, payment method, the
waiting page (which refreshes itself) and the done page, then asks for a receipt; it
also books a time slot with a parking add-on, and sells an annual pass whose holder's
photo is taken with chromium's fake webcam; and it pays a time stay (精算) whose exit the
gate then admits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from escpos.printer import Dummy

from core_service.app import create_app as create_core
from core_service.demo.data import DemoFacility
from core_service.models.catalog import PassHolder
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from kiosk_driver.app import create_app as create_kiosk_ui
from kiosk_driver.config import KioskConfig
from kiosk_driver.core_client import CoreClient
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import KioskOrderIn, KioskPaymentIn, OrderLineIn
from tests.conftest import seed_demo
from tests.support.browser import CHROMIUM, LAUNCH_ARGS, launch_chromium, require_chromium
from tests.support.live_server import serve as _serve
from tests.support.stays import add_stay_product, move_back

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium_path() -> str:
    require_chromium()
    return str(CHROMIUM)


@pytest.fixture
def kiosk_url(
    sqlite_settings: Settings, tmp_path: Path
) -> Iterator[tuple[str, Kiosk, DemoFacility]]:
    demo = asyncio.run(seed_demo(sqlite_settings))
    with _serve(create_core(sqlite_settings, background=False)) as core_url:
        profile = resolve_profile("epson-tm-t88-ja")
        kiosk = Kiosk(
            CoreClient(core_url, demo.kiosk_token),
            # A short wait at the terminal, so the browser really sees the waiting page.
            SimulatedTerminal(delay=1.0),
            Dummy(profile=profile.escpos_profile),
            profile,
            Journal(tmp_path / "journal.sqlite3"),
        )
        with _serve(create_kiosk_ui(kiosk, KioskConfig(idle_seconds=120))) as url:
            yield url, kiosk, demo


def test_browser_buys_a_day_ticket_through_the_kiosk_ui(
    chromium_path: str, kiosk_url: tuple[str, Kiosk, DemoFacility]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, kiosk, demo = kiosk_url
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            expect(page.locator("h1")).to_have_text("チケットをお選びください")
            page.click(f'a[href="/product/{demo.day_ticket_id}"]')
            page.fill(f"#qty_{demo.adult_category_id}", "2")
            page.click("button.primary")
            page.check('input[name="consent_waiver"]')
            page.click("button.primary")
            expect(page.locator("body")).to_contain_text("¥")
            page.click('button[value="card"]')
            expect(page.locator("#cancel")).to_be_visible()  # the waiting page, with Cancel
            expect(page.locator("h1")).to_have_text("チケットをお取りください", timeout=15000)
            page.click("text=領収書")
            expect(page.locator("body")).to_contain_text("領収書を発行しました")
        finally:
            browser.close()
    [record] = kiosk.journal.recent()
    assert record.state == SaleState.PRINTED and record.receipt_printed_at
    assert len(record.confirmation["tickets"]) == 2
    for ticket in record.confirmation["tickets"]:
        assert kiosk.printer.output.count(ticket["qr_token"].encode()) == 1


def _pay_through(page: Any, *summary: str) -> None:
    """Consent, the payment page (showing ``summary``), card, waiting, done."""
    from playwright.sync_api import expect

    page.check('input[name="consent_waiver"]')
    page.click("button.primary")
    for text in summary:
        expect(page.locator("body")).to_contain_text(text)
    page.click('button[value="card"]')
    expect(page.locator("h1")).to_have_text("チケットをお取りください", timeout=15000)


def test_browser_books_a_time_slot_with_an_add_on(
    chromium_path: str, kiosk_url: tuple[str, Kiosk, DemoFacility]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, kiosk, demo = kiosk_url
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.click(f'a[href="/product/{demo.timed_ticket_id}"]')
            slots = page.locator("label.slot")
            expect(slots).to_have_count(len(demo.timed_slots))
            expect(slots.first).to_contain_text("〇")
            page.fill(f"#qty_{demo.timed_adult_category_id}", "2")
            page.click("button.primary")  # no slot chosen: the page says so
            expect(page.locator("#error")).to_have_text("時間帯をお選びください")
            page.check('input[name="slot"][value="11:30"]')
            page.fill(f"#qty_{demo.timed_adult_category_id}", "2")
            page.fill(f"#qty_{demo.parking_category_id}", "1")
            page.click("button.primary")
            _pay_through(page, "11:30", "¥4,100")
        finally:
            browser.close()
    [record] = kiosk.journal.recent()
    assert record.state == SaleState.PRINTED
    kinds = sorted(t["product_kind"] for t in record.confirmation["tickets"])
    assert kinds == ["addon", "timed_admission", "timed_admission"]
    zipline = next(p for p in kiosk.catalog(refresh=True).products if p.code == "zipline")
    left = {s.slot: s.remaining for s in zipline.slots}
    assert left["11:30"] == left["10:00"] - 2  # the core took the places from 11:30
    assert kiosk.printer.output.count("入場時間".encode("cp932")) == 2  # on both tickets
    assert b"11:30" in kiosk.printer.output


def test_browser_sells_an_annual_pass_with_a_webcam_photo(
    chromium_path: str,
    kiosk_url: tuple[str, Kiosk, DemoFacility],
    sqlite_settings: Settings,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, kiosk, demo = kiosk_url
    with sync_playwright() as pw:
        # A fake camera and an automatic "allow": what the kiosk's own chromium is set to.
        browser = pw.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                *LAUNCH_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        try:
            context = browser.new_context()
            context.grant_permissions(["camera"], origin=url)
            page = context.new_page()
            page.goto(url + "/")
            page.click(f'a[href="/product/{demo.annual_pass_id}"]')
            page.select_option("#holder_0_category", str(demo.pass_adult_category_id))
            page.fill("#holder_0_name", "山田 花子")
            page.fill("#holder_0_birth_date", "1990-04-01")
            page.click("#holder_0_take")  # the live picture
            expect(page.locator("#holder_0_video")).to_be_visible()
            page.wait_for_function(
                "document.getElementById('holder_0_video').videoWidth > 0", timeout=10000
            )
            page.click("#holder_0_take")  # the still
            expect(page.locator("#holder_0_status")).to_have_text("写真を撮りました")
            expect(page.locator("#holder_0_preview")).to_be_visible()
            page.click("button.primary")
            _pay_through(page, "山田 花子", "¥12,000")
        finally:
            browser.close()
    [record] = kiosk.journal.recent()
    assert record.state == SaleState.PRINTED
    (holder,) = record.request["lines"][0]["holders"]
    assert holder == {"name": "山田 花子", "birth_date": "1990-04-01", "photo": ""}
    assert kiosk.held_carts == {}
    assert "山田 花子".encode("cp932") in kiosk.printer.output  # the pass shows its holder
    (stored,) = asyncio.run(_pass_holders(sqlite_settings, record.confirmation["order"]["code"]))
    assert stored.name == "山田 花子" and stored.photo_type == "image/jpeg"
    assert stored.photo and stored.photo.startswith(b"\xff\xd8\xff")


async def _pass_holders(settings: Settings, order_code: str) -> list[PassHolder]:
    from core_service.models import Order

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            order_id = await session.scalar(sa.select(Order.id).where(Order.code == order_code))
            rows = await session.scalars(
                sa.select(PassHolder).where(PassHolder.order_id == order_id)
            )
            return list(rows)
    finally:
        await engine.dispose()


def test_browser_pays_a_time_stay_and_the_gate_lets_the_visitor_out(
    chromium_path: str,
    kiosk_url: tuple[str, Kiosk, DemoFacility],
    sqlite_settings: Settings,
) -> None:
    """精算: the reader types the stay ticket's QR, the screen shows what is owed, the
    card pays it, and the exit scan admits."""
    import httpx
    from playwright.sync_api import expect, sync_playwright

    url, kiosk, demo = kiosk_url
    category_id = asyncio.run(add_stay_product(sqlite_settings, demo))
    sale = kiosk.core.create_order(
        KioskOrderIn(
            lines=[OrderLineIn(category_id, 1)],
            answers={"consent_waiver": True},
            payment=KioskPaymentIn("card", "term-stay", 0),
        ),
        idempotency_key="browser-stay-ticket",
    )
    token = sale.answer.tickets[0].qr_token
    gate = httpx.Client(
        base_url=str(kiosk.core._http.base_url),
        headers={"Authorization": f"Bearer {demo.gate_token}"},
    )

    def scan(direction: str) -> dict[str, Any]:
        response = gate.post("/api/v1/gate/scan", json={"token": token, "direction": direction})
        body: dict[str, Any] = response.json()
        return body

    assert scan("entry")["admitted"]
    asyncio.run(move_back(sqlite_settings, entry=dt.timedelta(minutes=40), payments=dt.timedelta()))
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.click("#stay-entry")
            expect(page.locator("#code")).to_be_focused()  # where the QR reader types
            page.keyboard.type(token)
            page.keyboard.press("Enter")
            expect(page.locator("#stay-minutes")).to_have_text("40 分")
            expect(page.locator("#stay-due")).to_have_text("¥1,000")
            page.click('button[value="card"]')
            expect(page.locator("#cancel")).to_be_visible()  # the waiting page, with Cancel
            expect(page.locator("h1")).to_have_text("精算が完了しました", timeout=15000)
            expect(page.locator("#stay-exit")).to_have_text("15分以内に出口からお出になれます")
        finally:
            browser.close()
    exit_scan = scan("exit")
    gate.close()
    assert exit_scan["admitted"], exit_scan
    [record] = kiosk.journal.recent()  # the stay ticket itself was sold past the journal
    assert record.state == SaleState.PRINTED and record.receipt_printed_at
    assert "利用料金（40分）".encode("cp932") in kiosk.printer.output
