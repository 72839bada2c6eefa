"""Cross-site request forgery in a real browser (issue 16).

The shop runs under uvicorn on one port; a second server on another port plays the
other site: its page auto-submits a form to the shop. The visitor's browser has opened
the shop before, so it holds the shop's cookies and sends them along (same host, other
port: the same site); only the token, which the other site cannot read, is missing.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from core_service.app import create_app
from core_service.models import Order, OutboxMessage
from core_service.platform.settings import Settings
from tests.support.browser import launch_chromium, require_chromium
from tests.support.csrf import forging_page
from tests.support.live_server import free_port, serve, serve_directory
from tests.support.web import Shop, build_shop, checkout_form, make_settings, product_url, query

pytestmark = pytest.mark.browser


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[str, Shop, Settings, str, Path]]:
    """The shop (base URL, shop, settings) and the other site (URL, its directory)."""
    port = free_port()
    settings = make_settings(tmp_path, base_url=f"http://127.0.0.1:{port}")
    shop = asyncio.run(build_shop(settings))
    root = tmp_path / "other-site"
    root.mkdir()
    with (
        serve(create_app(settings, background=False), port) as base_url,
        serve_directory(root) as site_url,
    ):
        yield base_url, shop, settings, site_url, root


def _rows(settings: Settings, model: Any) -> int:
    """How many rows ``model`` has; read in a thread of its own, because Playwright's
    sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return len(pool.submit(asyncio.run, query(settings, sa.select(model.id))).result())


def test_a_checkout_posted_from_another_site_is_refused_and_the_shops_own_form_works(
    two_sites: tuple[str, Shop, Settings, str, Path],
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, settings, site_url, root = two_sites
    (root / "buy.html").write_text(
        forging_page(f"{base_url}{product_url(shop)}", checkout_form(shop))
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(locale="ja-JP").new_page()
            page.goto(f"{base_url}{product_url(shop)}")  # the visitor has been to the shop

            page.goto(f"{site_url}/buy.html")
            page.wait_for_url(f"{base_url}{product_url(shop)}")
            expect(page.locator("body")).to_contain_text("別のサイトから送信された")
            assert _rows(settings, Order) == 0

            # The shop's own form, filled in by the visitor, goes through.
            page.goto(f"{base_url}{product_url(shop)}")
            page.locator("input[name=visit_date]").first.check()
            page.get_by_label("大人").fill("1")
            page.get_by_label("メールアドレス").fill("hanako@example.jp")
            page.get_by_role("checkbox", name="注意事項・同意書の内容を確認し、同意します").check()
            page.get_by_role("button", name="お支払いへ進む").click()
            page.wait_for_url("**/demo-pay/**")
            assert _rows(settings, Order) == 1
        finally:
            browser.close()


def test_a_my_page_form_posted_from_another_site_is_refused_in_english(
    two_sites: tuple[str, Shop, Settings, str, Path],
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, settings, site_url, root = two_sites
    mypage = f"{base_url}/shop/{shop.slug}/my/"
    (root / "mypage.html").write_text(forging_page(mypage, {"email": "victim@example.jp"}))
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(locale="en-US").new_page()
            page.goto(f"{mypage}?lang=en")

            page.goto(f"{site_url}/mypage.html")
            page.wait_for_url(mypage)
            expect(page.locator("body")).to_contain_text("sent from another site")
            assert _rows(settings, OutboxMessage) == 0

            page.goto(f"{mypage}?lang=en")
            page.locator("form").first.locator("input[name=email]").fill("hanako@example.jp")
            page.locator("form").first.locator("button[type=submit]").click()
            expect(page.locator("body")).to_contain_text(html.escape("hanako@example.jp"))
            assert page.locator("body").inner_text().count("another site") == 0
        finally:
            browser.close()
