"""The demo day end to end, over real HTTP: every surface sees the same two visitors.

A visitor buys online (web checkout, demo card), another buys a day ticket and a coupon
book at the kiosk (kiosk driver, in-memory ESC/POS printer), both enter through the gate
and ride once, the exporter writes Parquet, and the workbench's attendance state and the
attendance notebook both count 2 visitors.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import httpx
import pytest

from core_service.app import create_app
from core_service.exports import run_export
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.settings import Settings
from kiosk_driver.config import KioskConfig
from kiosk_driver.runtime import simulate_sale
from kippu_contract.facility_time import facility_today
from tests.conftest import seed_demo
from tests.support.csrf import page_token
from tests.support.live_server import free_port, serve
from tests.support.notebook import ROOT, run_notebook
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource

QR_COMMAND = b"\x1d(k"  # GS ( k: the printer's native QR code command


def _buy_online(base_url: str, demo) -> list[str]:
    """Checkout in the browser's way: form post, demo 3-D Secure, ticket page."""
    with httpx.Client(
        base_url=base_url, headers={"Accept": "text/html", "Accept-Language": "ja"}
    ) as web:
        product_page = web.get(f"/shop/{demo.slug}/products/day")
        assert product_page.status_code == 200
        assert "〇" in product_page.text  # the availability marker plugin
        checkout = web.post(
            f"/shop/{demo.slug}/products/day",
            data={
                "checkout_id": "demo-day-online-1",
                "visit_date": facility_today("Asia/Tokyo").isoformat(),
                f"qty_{demo.adult_category_id}": "1",
                "email": "visitor@example.jp",
                "name": "山田花子",
                "consent_waiver": "on",
                "payment": "demo:card",
                FORM_FIELD: page_token(product_page.text),
            },
        )
        assert checkout.status_code == 303, checkout.text[-2000:]
        pay_page = web.get(checkout.headers["location"])
        action = re.search(r'<form method="post" action="([^"]+/approve)"', pay_page.text)
        key = re.search(r'name="key" value="([^"]+)"', pay_page.text)
        assert action and key, pay_page.text[-2000:]
        approved = web.post(
            unescape(action.group(1)),
            data={"key": unescape(key.group(1)), FORM_FIELD: page_token(pay_page.text)},
        )
        assert approved.status_code == 303
        ticket_page = web.get(approved.headers["location"])
        assert ticket_page.status_code == 200
        return [unescape(t) for t in re.findall(r'data-token="([^"]+)"', ticket_page.text)]


def _scan(base_url: str, gate_token: str, token: str, direction: str = "entry") -> str:
    response = httpx.post(
        f"{base_url}/api/v1/gate/scan",
        json={"token": token, "direction": direction},
        headers={"Authorization": f"Bearer {gate_token}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["result"])


@pytest.mark.slow
def test_demo_day_every_surface_sees_two_visitors(db_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    # Links in pages and e-mails are absolute, so the core must know its own address.
    db_settings = replace(db_settings, base_url=f"http://127.0.0.1:{port}")
    demo = asyncio.run(seed_demo(db_settings))
    with serve(create_app(db_settings), port) as base_url:
        online_tokens = _buy_online(base_url, demo)
        assert len(online_tokens) == 1

        kiosk = KioskConfig(
            core_url=base_url,
            token=demo.kiosk_token,
            token_file=tmp_path / "kiosk-token",
            journal_path=tmp_path / "kiosk-journal.sqlite3",
            printer="memory",
        )
        sold = simulate_sale(
            kiosk,
            [(demo.adult_category_id, 1), (demo.coupon_category_id, 1)],
            method="emoney",
            receipt=True,
        )
        kiosk_tickets = sold.sale.confirmation.tickets
        assert sold.sale.printed and len(kiosk_tickets) == 2
        for ticket in kiosk_tickets:  # each QR is printed with the native command
            assert QR_COMMAND in sold.output and ticket.qr_token.encode() in sold.output
        assert "領収書".encode("shift_jis") in sold.output

        day_ticket = next(t for t in kiosk_tickets if t.product_kind == "day_admission")
        coupon = next(t for t in kiosk_tickets if t.product_kind == "coupon_book")
        assert _scan(base_url, demo.gate_token, online_tokens[0]) == "admitted"
        assert _scan(base_url, demo.gate_token, day_ticket.qr_token) == "admitted"
        assert _scan(base_url, demo.gate_token, coupon.qr_token, "ride") == "admitted"
        assert _scan(base_url, demo.gate_token, online_tokens[0]) == "already_used"

    report = run_export(db_settings)
    assert "checkins" in str(report)

    state = AttendanceState(ExportSource(db_settings.export_dir), facility_id=demo.facility_id)
    assert (state.admitted, state.valid) == (2, 2)
    assert state.visit_rate == 1.0

    text = run_notebook(
        ROOT / "notebooks" / "attendance.ipynb",
        {
            "KIPPU_EXPORT_DIR": str(db_settings.export_dir),
            "KIPPU_FACILITY_ID": str(demo.facility_id),
        },
    )
    assert "admitted: 2" in text
