"""The gate scanner page in a real browser (Debian's chromium through Playwright):
enrol with a code, lose the network, decide scans from the offline bundle (a forged code
refused by the browser's own Ed25519 check), and upload the queue once when back online."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.kiosks.devices import create_device
from core_service.models import CheckIn, OfflineScan, Ticket
from core_service.platform.settings import Settings
from kippu_contract.tokens import TokenClaim, generate_signing_key, sign_token
from tests.conftest import seed_demo
from tests.support.browser import launch_chromium, require_chromium
from tests.support.gate_rules import PNG
from tests.support.live_server import serve
from tests.support.web import query, run_in_session

pytestmark = pytest.mark.browser


async def _enrolment_code(settings: Settings, demo: DemoFacility) -> str:
    async def work(session: Any) -> str:
        new = await create_device(session, demo.facility_id, "gate", "North gate")
        await session.commit()
        return new.enrolment_code

    return str(await run_in_session(settings, work))


@pytest.fixture
def live_gate(sqlite_settings: Settings) -> Iterator[tuple[str, DemoFacility, Settings]]:
    require_chromium()
    demo = asyncio.run(seed_demo(sqlite_settings))
    with serve(create_app(sqlite_settings, background=False)) as base_url:
        yield base_url, demo, sqlite_settings


def _rows(settings: Settings, statement: Any) -> list[Any]:
    """Rows read in another thread: Playwright's sync API runs an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, query(settings, statement)).result()


def _buy(
    base_url: str, demo: DemoFacility, category: int = 0, price: int = 2000, **line: Any
) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/api/v1/kiosk/orders",
        json={
            "lines": [
                {"price_category_id": category or demo.adult_category_id, "quantity": 1, **line}
            ],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-1", "amount": price},
        },
        headers={
            "Authorization": f"Bearer {demo.kiosk_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()["tickets"][0]
    return ticket


def test_offline_scans_are_decided_in_the_browser_and_uploaded_once(
    live_gate: tuple[str, DemoFacility, Settings],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base_url, demo, settings = live_gate
    ticket = _buy(base_url, demo)
    code = asyncio.run(_enrolment_code(settings, demo))
    forger_key, _ = generate_signing_key()
    forged = sign_token(forger_key, TokenClaim(1, demo.facility_id, ticket["id"], 1))
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base_url}/gate/")
            page.get_by_label("登録コード").fill(code)
            page.get_by_role("button", name="登録する").click()
            expect(page.get_by_test_id("bundle")).to_contain_text("(")
            expect(page.get_by_test_id("network")).to_have_text("オンライン")

            context.set_offline(True)
            expect(page.get_by_test_id("network")).to_have_text("オフライン")
            result = page.get_by_test_id("result")
            for token, verdict, words in (
                (forged, "invalid", "無効なQRコードです"),
                (ticket["qr_token"], "admitted", "入場できます"),
                (ticket["qr_token"], "already_used", "使用済みのチケットです"),
            ):
                page.get_by_label("コードを入力").fill(token)
                page.get_by_label("コードを入力").press("Enter")
                expect(result).to_have_attribute("data-result", verdict)
                expect(result).to_contain_text(words)
                expect(result).to_contain_text("オフライン判定")
            expect(page.get_by_test_id("queue")).to_have_text("未送信: 3")
            assert _rows(settings, sa.select(OfflineScan.id)) == []

            context.set_offline(False)
            expect(page.get_by_test_id("queue")).to_have_text("未送信: 0")
            page.get_by_role("button", name="今すぐ送信").click()
            page.reload()
            expect(page.get_by_test_id("queue")).to_have_text("未送信: 0")
            expect(page.get_by_test_id("bundle")).to_contain_text("(")
            assert errors == []
        finally:
            browser.close()

    offline = _rows(settings, sa.select(OfflineScan.offline_result))
    assert sorted(r.offline_result for r in offline) == ["admitted", "already_used", "invalid"]
    logged = _rows(settings, sa.select(CheckIn.result).where(CheckIn.reason == "offline"))
    assert sorted(r.result for r in logged) == ["admitted", "already_used", "invalid"]
    [(uses_left,)] = _rows(settings, sa.select(Ticket.uses_left).where(Ticket.id == ticket["id"]))
    assert uses_left == 0


def test_the_page_shows_the_holder_and_decides_the_gate_rules_offline(
    live_gate: tuple[str, DemoFacility, Settings],
) -> None:
    """Online: a pass shows its holder's name and photo. Offline: an exit before any entry
    is refused, the entry admits and the exit then too (the gate's own record)."""
    from playwright.sync_api import expect, sync_playwright

    base_url, demo, settings = live_gate
    holder = {
        "name": "山田花子",
        "birth_date": "1990-04-01",
        "photo": base64.b64encode(PNG).decode(),
    }
    pass_ticket = _buy(base_url, demo, demo.pass_adult_category_id, 12000, holders=[holder])
    ticket = _buy(base_url, demo)
    code = asyncio.run(_enrolment_code(settings, demo))
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base_url}/gate/")
            page.get_by_label("Enrolment code").fill(code)
            page.get_by_role("button", name="Enrol").click()
            expect(page.get_by_test_id("bundle")).to_contain_text("(")
            field = page.get_by_label("Enter code")
            field.fill(pass_ticket["qr_token"])
            field.press("Enter")
            result = page.get_by_test_id("result")
            expect(result).to_have_attribute("data-result", "admitted")
            expect(page.get_by_test_id("holder")).to_have_text("Holder: 山田花子")
            photo = page.get_by_test_id("holder-photo")
            expect(photo).to_be_visible()
            page.wait_for_function("document.getElementById('holder-photo').naturalWidth === 2")

            context.set_offline(True)
            expect(page.get_by_test_id("network")).to_have_text("Offline")
            page.get_by_label("Direction").select_option("exit")
            for direction, verdict, words in (
                ("exit", "not_entered", "Not entered"),
                ("entry", "admitted", "Admitted"),
                ("exit", "admitted", "Admitted"),
                ("exit", "not_entered", "Not entered"),
            ):
                page.get_by_label("Direction").select_option(direction)
                field.fill(ticket["qr_token"])
                field.press("Enter")
                expect(result).to_have_attribute("data-result", verdict)
                expect(result).to_contain_text(words)
            expect(page.get_by_test_id("holder")).to_have_text("")
            assert errors == []
        finally:
            browser.close()
