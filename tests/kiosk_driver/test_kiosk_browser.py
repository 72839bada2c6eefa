"""A real headless browser (Playwright + Debian's chromium) buys tickets at the kiosk.

Both services run for real with uvicorn on free loopback ports: the core (``create_app``
over a migrated, demo-seeded SQLite database) and the kiosk driver's UI talking to it
over HTTP. The browser clicks through product, quantity, consent, payment method, the
waiting page (which refreshes itself) and the done page, then asks for a receipt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from escpos.printer import Dummy

from core_service.app import create_app as create_core
from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kiosk_driver.app import create_app as create_kiosk_ui
from kiosk_driver.config import KioskConfig
from kiosk_driver.core_client import CoreClient
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from tests.conftest import seed_demo
from tests.support.browser import CHROMIUM, launch_chromium, require_chromium
from tests.support.live_server import serve as _serve

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
