"""Buying a ticket end to end in a real browser (Debian's chromium through Playwright).

The app runs under uvicorn in a background thread on a free port. JavaScript is switched
off in the browser, because the checkout must work without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from core_service.app import create_app
from core_service.platform.settings import Settings
from tests.support.browser import launch_chromium
from tests.support.browser import require_chromium as _require_chromium
from tests.support.live_server import free_port as _free_port
from tests.support.live_server import serve
from tests.support.web import Shop, build_shop, make_settings, visit_day

pytestmark = pytest.mark.browser


@pytest.fixture
def live_shop(tmp_path: Path) -> Iterator[tuple[str, Shop, Settings]]:
    """The real app served by uvicorn on a free port, with one shop."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, base_url=base_url)
    shop = asyncio.run(build_shop(settings))
    with serve(create_app(settings, background=False), port):
        yield base_url, shop, settings


def test_buy_a_ticket_in_the_browser(live_shop: tuple[str, Shop, Settings]) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, _settings = live_shop
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(
                java_script_enabled=False, locale="ja-JP", viewport={"width": 390, "height": 844}
            )
            page = context.new_page()
            page.goto(f"{base_url}/shop/{shop.slug}/")
            page.get_by_role("link", name="日付と枚数を選ぶ").click()
            expect(page.get_by_role("heading", name="入場券")).to_be_visible()

            page.locator(f"#date-{visit_day().isoformat()}").check()
            page.get_by_label("大人").fill("2")
            page.get_by_label("メールアドレス").fill("hanako@example.jp")
            page.get_by_role("checkbox", name="注意事項・同意書の内容を確認し、同意します").check()
            page.get_by_role("button", name="お支払いへ進む").click()

            page.wait_for_url("**/demo-pay/**")
            expect(page.get_by_text("3,600円")).to_be_visible()
            page.get_by_role("button", name="承認する").click()

            page.wait_for_url("**/orders/**")
            expect(page.get_by_role("heading", name="お客様のチケット")).to_be_visible()
            expect(page.locator("li.ticket svg")).to_have_count(2)
            expect(page.locator("li.ticket").first).to_contain_text("大人")
        finally:
            browser.close()


def test_missing_consent_is_shown_in_the_browser(live_shop: tuple[str, Shop, Settings]) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, _settings = live_shop
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            page.goto(f"{base_url}/shop/{shop.slug}/products/day?lang=en")
            page.locator(f"#date-{visit_day().isoformat()}").check()
            page.get_by_label("Child").fill("1")
            page.get_by_label("E-mail address").fill("taro@example.com")
            page.get_by_role("button", name="Continue to payment").click()
            expect(page.get_by_role("alert").filter(has_text="You must agree")).to_be_visible()
            expect(page.get_by_label("E-mail address")).to_have_value("taro@example.com")
            expect(page.get_by_label("Child")).to_have_value("1")
        finally:
            browser.close()
