"""Buying every online kind of the demo facility in a real browser, in Japanese and English.

A timed ticket with a parking add-on, then an annual passport with two holders (one with
a photo), through the demo card page, with JavaScript switched off: the slot picker
(native ``<details>``), "add another pass" and the photo upload all work without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Ticket
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.browser import launch_chromium
from tests.support.browser import require_chromium as _require_chromium
from tests.support.live_server import serve
from tests.support.web import make_settings, query, visit_day

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TEXT = {
    "ja": {"approve": "承認する", "tickets": "お客様のチケット", "add": "パスを追加する"},
    "en": {"approve": "Approve", "tickets": "Your tickets", "add": "Add another pass"},
}

pytestmark = pytest.mark.browser


@pytest.fixture
def live_demo(tmp_path: Path) -> Iterator[tuple[str, DemoFacility, Settings]]:
    """The demo facility served for real on a free port."""
    from tests.support.live_server import free_port

    port = free_port()
    settings = make_settings(tmp_path, base_url=f"http://127.0.0.1:{port}")
    demo = asyncio.run(seed_demo(settings))
    with serve(create_app(settings, background=False), port=port) as base_url:
        yield base_url, demo, settings


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_buy_timed_ticket_with_parking_and_an_annual_pass(
    live_demo: tuple[str, DemoFacility, Settings], locale: str, tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, demo, settings = live_demo
    text = TEXT[locale]
    day = visit_day().isoformat()
    photo = tmp_path / "holder.png"
    photo.write_bytes(PNG)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(
                java_script_enabled=False,
                locale="ja-JP" if locale == "ja" else "en-US",
                viewport={"width": 390, "height": 844},
            )
            page = context.new_page()

            # A timed ticket (second slot) with parking.
            page.goto(f"{base_url}/shop/{demo.slug}/products/zipline?lang={locale}")
            page.locator(f"#day-{day} summary").click()
            page.locator(f"#slot-{day}-2").check()
            page.locator(f"#qty-{demo.timed_adult_category_id}").fill("2")
            page.locator(f"#qty-{demo.parking_category_id}").fill("1")
            page.locator("#email").fill("hanako@example.jp")
            page.locator("#consent_waiver").check()
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url("**/demo-pay/**")
            page.get_by_role("button", name=text["approve"]).click()
            page.wait_for_url("**/orders/**")
            expect(page.get_by_role("heading", name=text["tickets"])).to_be_visible()
            expect(page.locator("li.ticket svg")).to_have_count(3)

            # An annual passport for two holders, the first with a photo.
            page.goto(f"{base_url}/shop/{demo.slug}/products/annual?lang={locale}")
            page.locator("#holder_0_name").fill("山田花子")
            page.locator("#holder_0_birth_date").fill("1990-04-01")
            page.locator("#holder_0_photo").set_input_files(str(photo))
            page.get_by_role("button", name=text["add"]).click()
            expect(page.locator("#holder_0_name")).to_have_value("山田花子")
            expect(page.locator("#holder_0_photo_kept")).to_be_visible()
            page.locator("#holder_1_category").select_option(str(demo.pass_child_category_id))
            page.locator("#holder_1_name").fill("Ken Yamada")
            page.locator("#holder_1_birth_date").fill("2015-06-30")
            page.locator("#email").fill("hanako@example.jp")
            page.locator("#consent_waiver").check()
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url("**/demo-pay/**")
            page.get_by_role("button", name=text["approve"]).click()
            page.wait_for_url("**/orders/**")
            expect(page.locator("li.ticket svg")).to_have_count(2)
        finally:
            browser.close()
    holders = asyncio.run(
        query(
            settings,
            sa.select(Ticket.holder_name).where(Ticket.product_id == demo.annual_pass_id),
        )
    )
    assert sorted(h[0] for h in holders) == ["Ken Yamada", "山田花子"]
