"""Paying by konbini and by PayPay in a real browser, with the demo provider's controls.

The app runs under uvicorn on a free port; Debian's chromium is driven by Playwright with
JavaScript switched off, because the payment pages must work without it (the waiting
page reloads itself with a meta refresh). The demo controls open in a second tab, as the
visitor's phone or the store's register would be a second device.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core_service.app import create_app
from core_service.platform.settings import Settings
from tests.support.browser import launch_chromium
from tests.support.browser import require_chromium as _require_chromium
from tests.support.live_server import free_port, serve
from tests.support.web import Shop, build_shop, make_settings, visit_day

ORDER_PAGE = re.compile(r"/orders/[^/?]+\?key=")

pytestmark = pytest.mark.browser


@pytest.fixture
def live_shop(tmp_path: Path) -> Iterator[tuple[str, Shop, Settings]]:
    port = free_port()
    settings = make_settings(tmp_path, base_url=f"http://127.0.0.1:{port}")
    shop = asyncio.run(build_shop(settings))
    with serve(create_app(settings, background=False), port=port) as base_url:
        yield base_url, shop, settings


def _buy(page: Any, base_url: str, shop: Shop, method_label: str) -> None:
    page.goto(f"{base_url}/shop/{shop.slug}/products/day")
    page.locator(f"#date-{visit_day().isoformat()}").check()
    page.get_by_label("大人").fill("2")
    page.get_by_label("メールアドレス").fill("hanako@example.jp")
    page.get_by_role("checkbox", name="注意事項・同意書の内容を確認し、同意します").check()
    page.get_by_label(method_label).check()
    page.get_by_role("button", name="お支払いへ進む").click()
    page.wait_for_url("**/payments/**")


def _browser(playwright: Any) -> Any:
    return launch_chromium(playwright)


def test_pay_by_konbini_in_the_browser(live_shop: tuple[str, Shop, Settings]) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, _settings = live_shop
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            context = browser.new_context(java_script_enabled=False, locale="ja-JP")
            page = context.new_page()
            _buy(page, base_url, shop, "コンビニ払い(デモ)")
            expect(page.get_by_role("heading", name="コンビニでお支払い")).to_be_visible()
            expect(page.get_by_text("3,600円")).to_be_visible()
            expect(page.locator(".deadline")).to_be_visible()
            expect(page.locator("td.payment-code").first).to_have_text(re.compile(r"\d{6}"))

            with context.expect_page() as register_tab:
                page.get_by_role("link", name="デモのコンビニのレジを開く").click()
            register = register_tab.value
            expect(register.get_by_role("heading", name="コンビニのレジ(デモ)")).to_be_visible()
            register.get_by_role("button", name="レジで支払う").click()
            register.wait_for_url(ORDER_PAGE)
            expect(register.get_by_role("heading", name="お客様のチケット")).to_be_visible()

            page.reload()
            page.wait_for_url(ORDER_PAGE)
            expect(page.locator("li.ticket svg")).to_have_count(2)
        finally:
            browser.close()


def test_pay_by_paypay_in_the_browser(live_shop: tuple[str, Shop, Settings]) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, _settings = live_shop
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            context = browser.new_context(java_script_enabled=False, locale="ja-JP")
            page = context.new_page()
            _buy(page, base_url, shop, "PayPay(デモ)")
            expect(
                page.get_by_role("heading", name="QRコードを読み取ってお支払いください")
            ).to_be_visible()
            expect(page.locator("figure.pay-qr svg")).to_be_visible()

            with context.expect_page() as app_tab:
                page.get_by_role("link", name="デモのPayPayアプリを開く").click()
            paypay_app = app_tab.value
            expect(paypay_app.get_by_text("3,600円")).to_be_visible()
            paypay_app.get_by_role("button", name="PayPayで支払う").click()

            # The waiting page reloads itself and moves on to the tickets.
            page.wait_for_url(ORDER_PAGE, timeout=20_000)
            expect(page.get_by_role("heading", name="お客様のチケット")).to_be_visible()
            expect(page.locator("li.ticket svg")).to_have_count(2)
        finally:
            browser.close()
