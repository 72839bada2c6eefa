"""The kiosk touch UI, walked with plain HTML forms through Litestar's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from kiosk_driver import journal as j
from kiosk_driver.app import create_app
from kiosk_driver.config import KioskConfig
from kiosk_driver.sale import Kiosk
from kiosk_driver.terminal import SimulatedTerminal
from tests.kiosk_helpers import FakeCore, make_kiosk


@pytest.fixture
def core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def kiosk(core: FakeCore, tmp_path: Path) -> Kiosk:
    return make_kiosk(core, tmp_path)


@pytest.fixture
def client(kiosk: Kiosk) -> Iterator[TestClient]:
    with TestClient(app=create_app(kiosk, KioskConfig(idle_seconds=45))) as test_client:
        yield test_client


def _redirect(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code in (301, 302, 303, 307), response.text
    return response.headers["location"]


def test_visitor_buys_tickets_with_forms_only(client: TestClient, kiosk: Kiosk) -> None:
    start = client.get("/")
    assert "入園券" in start.text and "スタッフ呼出し" in start.text and "〇" in start.text
    assert "<script" not in start.text
    assert 'href="/product/10"' in start.text

    product = client.get("/product/10")
    assert 'name="qty_100"' in product.text
    assert 'http-equiv="refresh" content="45;url=/"' in product.text  # idle timeout

    consent_url = _redirect(
        client.post(
            "/cart",
            data={"product_id": "10", "qty_100": "2", "qty_101": "0"},
            follow_redirects=False,
        )
    )
    assert consent_url == "/consent?cart=100:2"
    consent = client.get(consent_url)
    assert "けがの危険があることを理解しました" in consent.text

    refused = client.post("/consent/submit", data={"cart": "100:2"})
    assert refused.status_code == 400 and "必須の項目" in refused.text

    pay_url = _redirect(
        client.post(
            "/consent/submit", data={"cart": "100:2", "waiver": "on"}, follow_redirects=False
        )
    )
    pay_page = client.get(pay_url)
    assert "¥3,600" in pay_page.text and 'value="emoney"' in pay_page.text

    done_url = _redirect(
        client.post(
            "/pay/submit",
            data={"cart": "100:2", "answers": "waiver", "method": "emoney"},
            follow_redirects=False,
        )
    )
    sale_id = done_url.rsplit("/", 1)[1]
    assert kiosk.journal.get(sale_id).state == j.PRINTED
    done = client.get(done_url)
    assert "チケットをお取りください" in done.text and "領収書" in done.text

    receipt = client.post(f"/receipt/{sale_id}")
    assert "領収書を発行しました" in receipt.text
    assert kiosk.printer.output.count("領収書".encode("cp932")) == 1


def test_english_switch_translates_the_pages(client: TestClient) -> None:
    client.get("/lang/en?next=/", follow_redirects=False)
    client.cookies.set("lang", "en")
    page = client.get("/")
    assert "Please choose a ticket" in page.text and "Day admission" in page.text
    assert "Call staff" in page.text


def test_declined_payment_shows_message_and_no_ticket(core: FakeCore, tmp_path: Path) -> None:
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="decline"))
    with TestClient(app=create_app(kiosk)) as client:
        response = client.post(
            "/pay/submit", data={"cart": "100:1", "answers": "waiver", "method": "card"}
        )
    assert response.status_code == 402 and "お支払いができませんでした" in response.text
    assert kiosk.printer.output == b""


def test_sold_out_at_confirmation_voids_and_says_so(core: FakeCore, tmp_path: Path) -> None:
    core.conflict = "sold out"
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with TestClient(app=create_app(kiosk)) as client:
        response = client.post(
            "/pay/submit", data={"cart": "100:1", "answers": "waiver", "method": "card"}
        )
    assert response.status_code == 409 and "お支払いは取り消しました" in response.text
    assert len(terminal.voided) == 1


def test_core_down_shows_out_of_service(core: FakeCore, client: TestClient) -> None:
    core.down = True
    response = client.get("/")
    assert response.status_code == 503 and "ただいま休止中です" in response.text


def test_call_staff_button_flags_the_kiosk(client: TestClient, kiosk: Kiosk) -> None:
    response = client.post("/staff")
    assert "スタッフを呼び出しました" in response.text
    assert kiosk.staff_called


def test_cart_without_consent_fields_goes_straight_to_payment(
    core: FakeCore, tmp_path: Path
) -> None:
    core.catalog["checkout_fields"] = []
    kiosk = make_kiosk(core, tmp_path)
    with TestClient(app=create_app(kiosk)) as client:
        client.get("/")
        response = client.post(
            "/cart", data={"product_id": "20", "qty_200": "1"}, follow_redirects=False
        )
    assert re.fullmatch(r"/pay\?cart=200:1", response.headers["location"])
