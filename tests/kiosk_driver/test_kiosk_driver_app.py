"""The kiosk touch UI, walked with plain HTML forms through Litestar's TestClient."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from kiosk_driver.app import create_app
from kiosk_driver.config import KioskConfig
from kiosk_driver.errors import OrderConflict
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support.kiosk import FakeCore, make_kiosk


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


def _settle(kiosk: Kiosk, client: TestClient, location: str):  # type: ignore[no-untyped-def]
    """Wait for the sale's worker, then load the waiting page (following its redirect)."""
    sale_id = location.rsplit("/", 1)[1]
    for _ in range(500):
        if kiosk.jobs[sale_id].done:
            break
        time.sleep(0.01)
    return client.get(location)


def _pay(client: TestClient, method: str = "card", cart: str = "100:1") -> str:
    response = client.post(
        "/pay/submit",
        data={"cart": cart, "answers": "waiver", "method": method},
        follow_redirects=False,
    )
    location = _redirect(response)
    assert location.startswith("/paying/")
    return location


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

    paying_url = _pay(client, "emoney", "100:2")
    sale_id = paying_url.rsplit("/", 1)[1]
    done = _settle(kiosk, client, paying_url)
    assert kiosk.journal.get(sale_id).state == SaleState.PRINTED
    assert str(done.url).endswith(f"/done/{sale_id}")
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


def test_declined_payment_reads_as_declined_and_prints_no_ticket(
    core: FakeCore, tmp_path: Path
) -> None:
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="decline"))
    with TestClient(app=create_app(kiosk)) as client:
        response = _settle(kiosk, client, _pay(client))
        client.cookies.set("lang", "en")
        english = client.get(response.url.path)
    assert response.status_code == 402 and "お支払いが承認されませんでした" in response.text
    assert "取り消" not in response.text  # declined, not cancelled
    assert "Payment declined" in english.text and "cancelled" not in english.text
    assert kiosk.printer.output == b""


def test_timed_out_payment_is_neither_declined_nor_cancelled(
    core: FakeCore, tmp_path: Path
) -> None:
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="timeout"))
    with TestClient(app=create_app(kiosk)) as client:
        response = _settle(kiosk, client, _pay(client))
    assert response.status_code == 402 and "お支払いができませんでした" in response.text


def test_sold_out_at_confirmation_voids_and_says_so(core: FakeCore, tmp_path: Path) -> None:
    core.conflict = "sold out"
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with TestClient(app=create_app(kiosk)) as client:
        response = _settle(kiosk, client, _pay(client))
    assert response.status_code == 409 and "お支払いは取り消しました" in response.text
    assert len(terminal.voided) == 1


def test_core_down_shows_out_of_service(core: FakeCore, client: TestClient) -> None:
    core.down = True
    response = client.get("/")
    assert response.status_code == 503 and "ただいま休止中です" in response.text


def test_call_staff_button_flags_the_kiosk(
    client: TestClient, kiosk: Kiosk, core: FakeCore
) -> None:
    response = client.post("/staff")
    assert "スタッフを呼び出しました" in response.text
    assert kiosk.staff_called
    assert core.staff_calls[0]["reason"] == "visitor"  # the core heard it, not just the screen


def test_cart_without_consent_fields_goes_straight_to_payment(
    core: FakeCore, tmp_path: Path
) -> None:
    core.catalog.checkout_fields = []
    kiosk = make_kiosk(core, tmp_path)
    with TestClient(app=create_app(kiosk)) as client:
        client.get("/")
        response = client.post(
            "/cart", data={"product_id": "20", "qty_200": "1"}, follow_redirects=False
        )
    assert re.fullmatch(r"/pay\?cart=200:1", response.headers["location"])


def test_waiting_page_refreshes_and_cancel_stops_the_payment(
    core: FakeCore, tmp_path: Path
) -> None:
    terminal = SimulatedTerminal(delay=5.0)
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with TestClient(app=create_app(kiosk)) as client:
        paying_url = _pay(client)
        waiting = client.get(paying_url)
        assert waiting.status_code == 200 and 'id="cancel"' in waiting.text
        assert f'content="1;url={paying_url}"' in waiting.text  # polls without JavaScript
        client.post(f"{paying_url}/cancel", follow_redirects=False)
        response = _settle(kiosk, client, paying_url)
    assert response.status_code == 402 and "お支払いを取り消しました" in response.text
    assert terminal.approved == {} and core.order_calls() == []


def test_out_of_service_names_the_reason_and_recovers_by_itself(
    core: FakeCore, client: TestClient
) -> None:
    core.down = True
    down = client.get("/")
    assert down.status_code == 503 and "サーバーに接続できません" in down.text
    assert 'http-equiv="refresh" content="10;url=/"' in down.text
    core.down = False
    assert client.get("/").status_code == 200


def test_staff_screen_needs_the_pin_and_reprints_with_the_mark(
    core: FakeCore, tmp_path: Path
) -> None:
    kiosk = make_kiosk(core, tmp_path)
    sale = kiosk.sell([OrderLineIn(100, 1)], "card", {"waiver": True})
    core.conflict = "sold out"
    failing = SimulatedTerminal(void_fails=True)
    kiosk.terminal = failing
    with pytest.raises(OrderConflict):
        kiosk.sell([OrderLineIn(100, 1)], "card", {"waiver": True})
    with TestClient(app=create_app(kiosk, KioskConfig(staff_pin="2468"))) as client:
        assert 'name="pin"' in client.get("/staff-menu").text
        client.post("/staff-menu/login", data={"pin": "0000"})
        refused = client.post(f"/staff-menu/reprint/{sale.sale_id}", follow_redirects=False)
        assert _redirect(refused) == "/staff-menu"  # no session: nothing printed
        client.post("/staff-menu/login", data={"pin": "2468"})
        menu = client.get("/staff-menu")
        assert "返金が必要なお取引" in menu.text
        [owed] = kiosk.journal.in_state(SaleState.VOID_FAILED)
        assert f'id="void-{owed.id}"' in menu.text and owed.payment_ref in menu.text
        before = len(kiosk.printer.output)
        client.post(f"/staff-menu/reprint/{sale.sale_id}")
    assert kiosk.printer.output[before:].count("再発行".encode("cp932")) == 2


def test_staff_screen_is_off_without_a_pin(client: TestClient) -> None:
    assert client.get("/staff-menu").status_code == 404


def test_lost_terminal_answer_shows_checking_then_the_tickets(
    core: FakeCore, tmp_path: Path
) -> None:
    from kiosk_driver.health import tick

    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="lost"))
    with TestClient(app=create_app(kiosk)) as client:
        paying_url = _pay(client)
        checking = _settle(kiosk, client, paying_url)
        assert "お支払い状況を確認しています" in checking.text  # not "failed": money moved
        tick(kiosk)  # the background loop asks the terminal, confirms and prints
        done = client.get(paying_url)
    assert "チケットをお取りください" in done.text and len(core.orders) == 1


def test_building_the_app_raises_no_warning(kiosk: Kiosk) -> None:
    """Explicit Litestar style throughout: no deprecation (or other) warning at build."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = create_app(kiosk, KioskConfig(staff_pin="2468"))
    assert {route.path for route in app.routes} >= {"/", "/pay/submit", "/staff-menu"}


def test_language_switch_goes_back_to_a_local_page_only(client: TestClient) -> None:
    back = client.get("/lang/en?next=/product/10", follow_redirects=False)
    assert _redirect(back) == "/product/10" and back.cookies["lang"] == "en"
    assert _redirect(client.get("/lang/ja?next=//evil.test/", follow_redirects=False)) == "/"
