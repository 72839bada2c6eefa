"""A new facility goes live from the browser alone (issue 17), in Debian's chromium.

From an empty database: the deployment is migrated and its first platform operator made
with the `kippu` command, as an installer would; everything after that happens in the
browser. The operator creates the facility and its owner on /platform/; the owner logs
into the workbench, switches a payment provider on and chooses its web method on the
Settings page, and creates a product with a price on the Catalogue page; a visitor then
buys that ticket in the shop and pays. The database is read only at the end, to check
that the sale is what the browser showed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core_service.models import Facility, Order, Ticket
from core_service.platform.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support import REPO_ROOT
from tests.support.browser import launch_chromium, require_chromium
from tests.support.catalog_page import add_price, create_product
from tests.support.live_server import free_port
from tests.support.web import query, visit_day
from tests.support.workbench_stack import core_and_workbench

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = ("ops@platform.example", "operator-walk-pass-1")
SLUG = "forest-park"
OWNER = "owner@forest.example"
VISITOR = "first.visitor@example.jp"


def _kippu(settings: Settings, *args: str, **env: str) -> str:
    """Run the ``kippu`` command against ``settings``' database, as an installer would."""
    answer = subprocess.run(
        [sys.executable, "-m", "kippu_cli", *args],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "KIPPU_DATABASE_URL": settings.database_url,
            "KIPPU_VAR_DIR": str(settings.var_dir),
            "KIPPU_SECRET_KEY": settings.secret_key,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def test_a_new_facility_is_set_up_in_the_browser_and_makes_its_first_sale(
    tmp_path: Path,
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/kippu.sqlite3",
        var_dir=tmp_path,
        secret_key=TEST_SECRET,
    )
    settings = dataclasses.replace(settings, base_url=f"http://127.0.0.1:{free_port()}")
    _kippu(settings, "db", "upgrade")
    assert asyncio.run(query(settings, sa.select(sa.func.count(Facility.id)))) == [(0,)]
    said = _kippu(
        settings, "platform", "operator", "add", OPERATOR[0], KIPPU_OPERATOR_PASSWORD=OPERATOR[1]
    )
    assert OPERATOR[0] in said

    with core_and_workbench(settings) as workbench, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            # The operator creates the facility and its first owner.
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{settings.base_url}/platform/?lang=en")
            page.fill(".platform-email", OPERATOR[0])
            page.fill(".platform-password", OPERATOR[1])
            page.click(".platform-login")
            for field, value in (
                ("slug", SLUG),
                ("name_ja", "森のアスレチック"),
                ("name_en", "Forest Athletic Park"),
                ("contact_email", "info@forest.example"),
                ("owner_email", OWNER),
            ):
                page.fill(f".platform-field-{field}", value)
            page.click(".platform-create")
            page.locator(".platform-created-slug", has_text=SLUG).wait_for()
            password = page.locator(".platform-owner-password").inner_text().strip()

            # The owner logs into the workbench.
            owner = browser.new_page()
            owner.set_default_timeout(60_000)
            owner.goto(f"{workbench}/login?lang=en")
            owner.fill("#facility", SLUG)
            owner.fill("#email", OWNER)
            owner.fill("#password", password)
            owner.click("button[type=submit]")
            owner.wait_for_url(re.compile(r"/attendance"))

            # Settings: switch the (demo) card provider on, then offer its card on the web.
            owner.goto(f"{workbench}/settings?lang=en")
            owner.locator(".plugin-demo_payments-enabled input").check()
            owner.locator(".settings-save button").click()
            expect(owner.locator("#settings-message")).to_have_text("Saved.")
            owner.reload()
            owner.locator(".web-methods").get_by_label("card").check()
            owner.locator(".settings-save button").click()
            expect(owner.locator("#settings-message")).to_have_text("Saved.")

            # Catalogue: a day admission with one price.
            owner.goto(f"{workbench}/catalog?lang=en")
            create_product(owner, "day", "1日券", "Day pass")
            add_price(owner, "adult", "大人", "Adult", 2400)

            # The first visitor buys in the shop and pays by card.
            visitor = browser.new_page()
            visitor.set_default_timeout(60_000)
            visitor.goto(f"{settings.base_url}/shop/{SLUG}/?lang=en")
            expect(visitor.get_by_text("Day pass").first).to_be_visible()
            visitor.goto(f"{settings.base_url}/shop/{SLUG}/products/day?lang=en")
            visitor.locator(f"#date-{visit_day().isoformat()}").check()
            visitor.get_by_label("Adult").fill("1")
            visitor.get_by_label("E-mail address").fill(VISITOR)
            visitor.get_by_role("button", name="Continue to payment").click()
            visitor.wait_for_url("**/demo-pay/**")
            expect(visitor.get_by_text("2,400").first).to_be_visible()
            visitor.get_by_role("button", name="Approve").click()
            visitor.wait_for_url("**/orders/**")
            expect(visitor.locator("li.ticket svg")).to_have_count(1)
        finally:
            browser.close()

    sold = asyncio.run(
        query(
            settings,
            sa.select(Order.status, Order.total, Order.channel, sa.func.count(Ticket.id))
            .join(Ticket, Ticket.order_id == Order.id)
            .join(Facility, Facility.id == Order.facility_id)
            .where(Facility.slug == SLUG)
            .group_by(Order.id),
        )
    )
    assert sold == [("paid", 2400, "web", 1)]
