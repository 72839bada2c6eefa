"""After the sale in a real browser (Debian's chromium through Playwright, JavaScript off):
buy three tickets, hand one to a companion who claims it in their own browser, cancel
another from My Page, and download the receipt PDF."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest

from core_service.app import create_app
from core_service.models import Facility
from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from tests.support.browser import launch_chromium
from tests.support.browser import require_chromium as _require_chromium
from tests.support.live_server import free_port as _free_port
from tests.support.live_server import serve
from tests.support.web import Shop, build_shop, make_settings, run_in_session, visit_day

TAX_NUMBER = "T2876543210987"  # made up; the check digit holds

pytestmark = pytest.mark.browser


async def _prepare(settings: Settings) -> Shop:
    """A shop that allows self-cancellation and prints a registration number."""
    shop = await build_shop(settings)

    async def configure(session: Any) -> None:
        facility = await session.get(Facility, shop.facility_id)
        facility.tax_registration_number = TAX_NUMBER
        facility.settings = {**facility.settings, "cancellation": {"self_cancel": True}}
        await session.commit()

    await run_in_session(settings, configure)
    return shop


@pytest.fixture
def live_shop(tmp_path: Path) -> Iterator[tuple[str, Shop, Settings]]:
    _require_chromium()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, base_url=base_url)
    shop = asyncio.run(_prepare(settings))
    with serve(create_app(settings, background=False), port):
        yield base_url, shop, settings


def test_share_claim_cancel_and_download_the_receipt(
    live_shop: tuple[str, Shop, Settings], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base_url, shop, settings = live_shop
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            options: dict[str, Any] = {
                "java_script_enabled": False,
                "locale": "ja-JP",
                "viewport": {"width": 390, "height": 844},
            }
            buyer = browser.new_context(accept_downloads=True, **options).new_page()
            # Buy two adults and a child.
            buyer.goto(f"{base_url}/shop/{shop.slug}/products/day")
            buyer.locator(f"#date-{visit_day().isoformat()}").check()
            buyer.get_by_label("大人").fill("2")
            buyer.get_by_label("こども").fill("1")
            buyer.get_by_label("メールアドレス").fill("hanako@example.jp")
            buyer.get_by_role("checkbox", name="注意事項・同意書の内容を確認し、同意します").check()
            buyer.get_by_role("button", name="お支払いへ進む").click()
            buyer.wait_for_url("**/demo-pay/**")
            buyer.get_by_role("button", name="承認する").click()
            buyer.wait_for_url("**/orders/**")
            expect(buyer.locator("li.ticket svg")).to_have_count(3)
            expect(buyer.locator("section.group")).to_contain_text("3名")

            # Hand the first ticket on.
            first = buyer.locator("li.ticket").first
            first.get_by_text("このチケットをお連れ様に渡す").click()
            first.get_by_role("button", name="リンクを作成").click()
            buyer.wait_for_url("**shared=**")
            link = buyer.locator("input.claim-link").first.input_value()
            assert link.startswith(f"{base_url}/shop/{shop.slug}/claim/")

            # The companion claims it in a browser of their own.
            companion = browser.new_context(**options).new_page()
            companion.goto(link)
            companion.get_by_label("お名前").fill("佐藤 太郎")
            companion.get_by_role("button", name="チケットを受け取る").click()
            companion.wait_for_url("**/tickets/**")
            expect(companion.get_by_role("heading", name="あなたのチケット")).to_be_visible()
            expect(companion.locator(".ticket svg")).to_have_count(1)

            buyer.reload()
            expect(buyer.get_by_text("佐藤 太郎 さんにお渡し済み")).to_be_visible()
            expect(buyer.locator("li.ticket svg")).to_have_count(2)

            # My Page (the magic link the visitor would get by e-mail), cancel the child.
            login = urls.magic_link_path(
                Signer(settings.secret_key), shop.slug, shop.facility_id, "hanako@example.jp"
            )
            buyer.goto(base_url + login)
            expect(buyer.get_by_role("heading", name="マイページ")).to_be_visible()
            buyer.get_by_role("link", name="チケットのキャンセル").click()
            expect(buyer.get_by_role("checkbox")).to_have_count(
                2
            )  # the handed-on one is not offered
            buyer.get_by_role("checkbox").last.check()
            buyer.get_by_role("button", name="選んだチケットをキャンセルする").click()
            buyer.wait_for_url("**/my?cancelled=**")
            expect(buyer.get_by_role("status")).to_contain_text("キャンセルが完了しました")
            expect(buyer.locator(".refund")).to_contain_text("900円")

            # The receipt, from My Page.
            buyer.get_by_role("link", name="領収書(PDF)").click()
            buyer.get_by_label("宛名(お名前または会社名)").fill("山田花子")
            with buyer.expect_download() as download_info:
                buyer.get_by_role("button", name="領収書をダウンロード(PDF)").click()
            saved = tmp_path / "receipt.pdf"
            download_info.value.save_as(saved)
        finally:
            browser.close()
    text = "\n".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(saved.read_bytes())).pages
    )
    assert "領 収 書" in text and TAX_NUMBER in text and "山田花子 様" in text
    # 1,800 × 2 + 900 paid, 900 refunded: 3,600 with floor(3,600 × 10 / 110) = 327 tax.
    assert "金額 ￥3,600-" in text and "内消費税 ￥327" in text
