"""The workbench in a real browser (Debian's chromium through Playwright): log in, open
every page, send a mailing that a real SMTP server on loopback receives, and cancel and
refund an order at the box office.

The core runs under uvicorn in a thread (with its background loop exporting to Parquet and
delivering the outbox to aiosmtpd), the workbench is ``serve_workbench`` in a subprocess,
as in production.
Assertions are on DOM text, never pixels (the machine has no CJK fonts).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import re
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from core_service.demo.data import DEMO_PASSWORD, DEMO_SLUG, demo_staff_email
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support import REPO_ROOT
from tests.support.browser import launch_chromium, require_chromium
from tests.support.catalog_page import add_price, create_product
from tests.support.csrf import page_token
from tests.support.live_server import free_port as _free_port
from tests.support.workbench import Builder, FacilityRef
from tests.support.workbench_stack import core_and_workbench

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = REPO_ROOT
CUSTOMER = "visitor.browser@example.jp"


class Inbox(MessageHandler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def handle_message(self, message: Message) -> None:
        self.messages.append(message)


@pytest.fixture
def stack(sqlite_settings: Settings) -> Iterator[tuple[str, Settings, Inbox]]:
    """SMTP server, core (uvicorn thread) and workbench (subprocess); yields the workbench URL."""
    require_chromium()
    inbox, smtp_port, core_port = Inbox(), _free_port(), _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    settings = dataclasses.replace(
        sqlite_settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        base_url=f"http://127.0.0.1:{core_port}",
    )
    demo = asyncio.run(seed_demo(settings))
    b = Builder(settings)
    park = FacilityRef(demo.facility_id)
    customer = b.customer(park, CUSTOMER)  # type: ignore[arg-type]
    import datetime as dt

    (ticket,) = b.order(park, b.product(park), dt.date.today(), customer=customer)  # type: ignore[arg-type]
    b.pay(ticket, "card", 1800)  # paid by card: a cancellation refunds through the provider
    b.close()
    try:
        with core_and_workbench(settings) as url:
            yield url, settings, inbox
    finally:
        smtp.stop()


@contextlib.contextmanager
def sync_playwright_browser() -> Iterator[Any]:
    """A chromium browser, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser
        finally:
            browser.close()


def _logged_in(browser: Any, url: str, role: str) -> Any:
    """A new page of ``browser``, logged in to the workbench as the demo ``role``."""
    page = browser.new_page()
    # Generous: on a shared 2-core machine a Panel page's first render can take a while.
    page.set_default_timeout(60_000)
    page.goto(f"{url}/login?lang=en")
    page.fill("#facility", DEMO_SLUG)
    page.fill("#email", demo_staff_email(role))
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/attendance"))
    return page


def test_manager_opens_every_page_and_sends_a_mailing_that_arrives(
    stack: tuple[str, Settings, Inbox],
) -> None:
    from playwright.sync_api import sync_playwright

    url, settings, inbox = stack
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = _logged_in(browser, url, "manager")
            page.get_by_text("Visitors admitted").first.wait_for()
            page.get_by_text("In the park now").first.wait_for()

            page.goto(f"{url}/sales?lang=en")
            page.get_by_text("Total sales").first.wait_for()
            page.get_by_text("By payment method").first.wait_for()

            page.goto(f"{url}/operations?lang=en")
            page.get_by_text("Device health").first.wait_for()
            page.locator(".lookup-query input").fill(CUSTOMER)
            page.locator(".lookup-query input").press("Enter")
            page.locator(".lookup-search button").click()
            page.locator(".order-code").first.wait_for()

            page.goto(f"{url}/settings?lang=en")
            page.get_by_text("Kiosk payment methods").first.wait_for()

            page.goto(f"{url}/mailing?lang=en")
            page.locator("#recipient-count").wait_for()
            assert page.locator("#recipient-count").inner_text().strip() == "1"
            for css, text in (
                (".subject-ja input", "{facility}からのお知らせ"),
                (".subject-en input", "News from {facility}"),
                (".body-ja textarea", "{name}様、ご来園ありがとうございました。"),
                (".body-en textarea", "Dear {name}, thank you for your visit."),
            ):
                page.locator(css).fill(text)
                page.locator(css).press("Tab")
            page.locator(".send-mailing button").click()
            page.locator("#mailing-message", has_text="queued").wait_for()
        finally:
            browser.close()

    deadline = time.monotonic() + 30
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    (message,) = inbox.messages
    assert message["To"] == CUSTOMER
    parsed = email.message_from_bytes(message.as_bytes())
    body = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
    text = body.get_payload(decode=True).decode(body.get_content_charset() or "utf-8")  # type: ignore[union-attr]
    link = re.search(r"(http://127\.0\.0\.1:\d+/unsubscribe/\S+)", text)
    assert link, text
    with httpx.Client(timeout=10) as client:
        form = client.get(link.group(1))
        done = client.post(link.group(1), data={FORM_FIELD: page_token(form.text)})
    assert form.status_code == 200 and 'id="unsubscribe"' in form.text
    assert done.status_code == 200 and 'id="done"' in done.text


def test_staff_cancel_an_order_after_seeing_the_fee_and_it_is_refunded(
    stack: tuple[str, Settings, Inbox],
) -> None:
    import sqlalchemy as sa
    from playwright.sync_api import expect, sync_playwright

    from core_service.models import Order, Refund
    from tests.support.web import query

    url, settings, _inbox = stack
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = _logged_in(browser, url, "staff")
            page.goto(f"{url}/operations?lang=en")
            page.get_by_text("Cancel and refund").first.wait_for()
            assert page.locator(".cancel-confirm button").is_disabled()  # no quote yet
            page.locator(".lookup-query input").fill(CUSTOMER)
            page.locator(".lookup-query input").press("Enter")
            page.locator(".lookup-search button").click()
            found = page.locator(".order-code", has_text=re.compile(r"\S")).first
            found.wait_for()
            code = found.inner_text().strip()
            # The one order found is the one offered for cancelling (Panel's widgets live
            # in shadow roots, which Playwright's locators pierce).
            expect(page.locator(".cancel-code input")).to_have_value(code, timeout=30_000)
            page.locator(".cancel-quote button").click()
            summary = page.locator(".cancel-quote-summary")
            summary.wait_for()
            assert "Refund ¥1,800" in summary.inner_text()
            page.locator(".cancel-confirm button").click()
            page.locator("#box-office-message", has_text=f"Order {code} cancelled").wait_for()
            assert "refunded" in page.locator("#box-office-message").inner_text()
        finally:
            browser.close()
    orders = asyncio.run(query(settings, sa.select(Order.status).where(Order.code == code)))
    refunds = asyncio.run(query(settings, sa.select(Refund.state, Refund.amount)))
    assert orders == [("cancelled",)] and refunds == [("refunded", 1800)]


def test_manager_creates_a_day_admission_with_a_price_and_sees_it_listed(
    stack: tuple[str, Settings, Inbox],
) -> None:
    import sqlalchemy as sa
    from playwright.sync_api import expect

    from core_service.models import PriceCategory, Product
    from tests.support.web import query

    url, settings, _inbox = stack
    with sync_playwright_browser() as browser:
        page = _logged_in(browser, url, "manager")
        page.goto(f"{url}/catalog?lang=en")
        page.locator(".catalog-product-code input").wait_for()
        create_product(page, "sunset", "サンセット入園券", "Sunset admission", daily_capacity="80")
        add_price(page, "adult", "大人", "Adult", 1500)
        row = page.locator(".catalog-products .tabulator-row", has_text="sunset")
        expect(row).to_contain_text("Sunset admission", timeout=30_000)
        expect(row).to_contain_text("adult ¥1,500", timeout=30_000)
        page.locator(".catalog-price-row", has_text="Adult").wait_for()
    rows = asyncio.run(
        query(
            settings,
            sa.select(Product.kind, Product.daily_capacity, PriceCategory.code, PriceCategory.price)
            .join(PriceCategory, PriceCategory.product_id == Product.id)
            .where(Product.code == "sunset"),
        )
    )
    assert rows == [("day_admission", 80, "adult", 1500)]


def test_an_operator_creates_a_facility_whose_owner_logs_into_the_workbench(
    stack: tuple[str, Settings, Inbox],
) -> None:
    """Issue 17.1 end to end: the operator's page on the core, then the workbench."""
    from playwright.sync_api import sync_playwright

    from tests.support.platform import OPERATOR_EMAIL, OPERATOR_PASSWORD, make_operator

    url, settings, _ = stack
    asyncio.run(make_operator(settings))
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{settings.base_url}/platform/?lang=en")
            page.fill(".platform-email", OPERATOR_EMAIL)
            page.fill(".platform-password", OPERATOR_PASSWORD)
            page.click(".platform-login")
            page.locator(".platform-facility-form").wait_for()
            for field, value in (
                ("slug", "sea-museum"),
                ("name_ja", "海の博物館"),
                ("name_en", "Sea Museum"),
                ("contact_email", "info@sea.example"),
                ("owner_email", "owner@sea.example"),
            ):
                page.fill(f".platform-field-{field}", value)
            page.click(".platform-create")
            page.locator(".platform-created-slug", has_text="sea-museum").wait_for()
            password = page.locator(".platform-owner-password").inner_text().strip()
            assert len(password) >= 12
            assert "sea-museum" in page.locator(".platform-facilities").inner_text()

            owner = browser.new_page()
            owner.set_default_timeout(60_000)
            owner.goto(f"{url}/login?lang=en")
            owner.fill("#facility", "sea-museum")
            owner.fill("#email", "owner@sea.example")
            owner.fill("#password", password)
            owner.click("button[type=submit]")
            owner.wait_for_url(re.compile(r"/attendance"))
            owner.goto(f"{url}/staff?lang=en")
            owner.locator(".staff-members").get_by_text("owner@sea.example").first.wait_for()
            assert owner.locator(".nav-billing").count() == 1  # an owner's pages
        finally:
            browser.close()
