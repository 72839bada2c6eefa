"""The kiosk driver sells every product kind: the product page's form (time slot, pass
holders with a camera photo, add-ons), the checks made before the visitor pays, the
journal forgetting photos once a sale is over, and staff called for printer faults."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from kiosk_driver.app import create_app
from kiosk_driver.catalog import cart_problem, find_product
from kiosk_driver.config import KioskConfig
from kiosk_driver.faults import FaultyPrinter
from kiosk_driver.health import tick
from kiosk_driver.product_form import product_form_lines
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import HolderIn, OrderLineIn
from tests.support.kiosk import FakeCore, every_kind_catalog, make_kiosk

PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0webcam-still").decode()
HANAKO = HolderIn("山田 花子", dt.date(1990, 4, 1), PHOTO)


@pytest.fixture
def core() -> FakeCore:
    return FakeCore(catalog=every_kind_catalog())


@pytest.fixture
def kiosk(core: FakeCore, tmp_path: Path) -> Kiosk:
    return make_kiosk(core, tmp_path)


@pytest.fixture
def client(kiosk: Kiosk) -> TestClient:
    with TestClient(app=create_app(kiosk, KioskConfig(idle_seconds=45))) as test_client:
        yield test_client


def _wait(kiosk: Kiosk, sale_id: str) -> None:
    for _ in range(500):
        if kiosk.jobs[sale_id].done:
            return
        time.sleep(0.01)
    raise AssertionError("the sale did not finish")


# -- the product page's form ----------------------------------------------------------


def test_the_slot_goes_to_the_timed_lines_and_not_to_the_add_ons() -> None:
    catalog = every_kind_catalog()
    zip_line = find_product(catalog, 30)
    lines = product_form_lines(catalog, zip_line, {"slot": "12:00", "qty_300": "2", "qty_500": "1"})
    assert lines == [OrderLineIn(300, 2, slot="12:00"), OrderLineIn(500, 1)]


def test_each_filled_holder_block_is_one_pass_with_its_photo() -> None:
    catalog = every_kind_catalog()
    form = {
        "holder_0_category": "400",
        "holder_0_name": "山田 花子",
        "holder_0_birth_date": "1990-04-01",
        "holder_0_photo": f"data:image/jpeg;base64,{PHOTO}",
        "holder_1_category": "401",
        "holder_1_name": "山田 次郎",
        "holder_1_birth_date": "2015-06-30",
        "holder_2_category": "400",  # an empty block: no pass
    }
    lines = product_form_lines(catalog, find_product(catalog, 40), form)
    assert lines == [
        OrderLineIn(400, 1, holders=[HANAKO]),
        OrderLineIn(401, 1, holders=[HolderIn("山田 次郎", dt.date(2015, 6, 30))]),
    ]


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([OrderLineIn(300, 1)], "choose_slot"),
        ([OrderLineIn(300, 1, slot="11:00")], "slot_full"),
        ([OrderLineIn(300, 3, slot="10:00")], "slot_full"),
        ([OrderLineIn(400, 1, holders=[HolderIn("山田 花子")])], "holder_missing"),
        ([OrderLineIn(400, 2, holders=[HANAKO])], "holder_missing"),
        ([OrderLineIn(500, 1)], "addon_alone"),
        ([OrderLineIn(200, 1), OrderLineIn(500, 1)], "addon_alone"),  # not for coupon books
        ([OrderLineIn(300, 2, slot="10:00"), OrderLineIn(500, 1)], None),
        ([OrderLineIn(400, 1, holders=[HANAKO])], None),
    ],
)
def test_a_cart_the_core_would_refuse_is_stopped_before_payment(
    lines: list[OrderLineIn], problem: str | None
) -> None:
    assert cart_problem(every_kind_catalog(), lines) == problem


def test_the_product_page_marks_slots_and_disables_a_full_one(client: TestClient) -> None:
    page = client.get("/product/30")
    assert page.status_code == 200
    assert "△" in page.text and "×" in page.text and "〇" in page.text
    assert 'value="11:00"\n        disabled' in page.text or 'value="11:00" disabled' in page.text


def test_a_timed_sale_without_a_slot_shows_the_page_again(client: TestClient) -> None:
    response = client.post("/cart", data={"product_id": "30", "qty_300": "1"})
    assert response.status_code == 400
    assert "時間帯をお選びください" in response.text


def test_the_start_screen_drops_held_carts_with_their_photos(
    client: TestClient, kiosk: Kiosk
) -> None:
    form = {
        "product_id": "40",
        "holder_0_category": "400",
        "holder_0_name": "山田 花子",
        "holder_0_birth_date": "1990-04-01",
        "holder_0_photo": f"data:image/jpeg;base64,{PHOTO}",
    }
    response = client.post("/cart", data=form, follow_redirects=False)
    location = response.headers["location"]
    assert location.startswith("/consent?cart=held:") and PHOTO not in location
    assert kiosk.held_carts
    client.get("/")
    assert kiosk.held_carts == {}


# -- the journal keeps no photo after the sale ------------------------------------------


def _journalled_requests(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT request FROM sales")]


def test_a_printed_pass_sale_leaves_no_photo_in_the_journal(
    core: FakeCore, kiosk: Kiosk, tmp_path: Path
) -> None:
    result = kiosk.sell([OrderLineIn(400, 1, holders=[HANAKO])], "card", {"waiver": True})
    assert result.printed
    sent = json.loads(core.order_calls()[0].content)
    assert sent["lines"][0]["holders"][0]["photo"] == PHOTO  # the core got it
    (request,) = _journalled_requests(tmp_path / "journal.sqlite3")
    (holder,) = json.loads(request)["lines"][0]["holders"]
    assert PHOTO not in request and holder == {
        "name": "山田 花子",
        "birth_date": "1990-04-01",
        "photo": "",
    }


def test_a_declined_pass_sale_leaves_no_photo_in_the_journal(
    core: FakeCore, tmp_path: Path
) -> None:
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="decline"))
    sale_id = kiosk.start_sale([OrderLineIn(400, 1, holders=[HANAKO])], "card", {"waiver": True})
    _wait(kiosk, sale_id)
    assert kiosk.journal.get(sale_id).state == SaleState.FAILED  # type: ignore[union-attr]
    assert PHOTO not in _journalled_requests(tmp_path / "journal.sqlite3")[0]


def test_a_paid_sale_keeps_its_photo_until_the_core_confirms(
    core: FakeCore, kiosk: Kiosk, tmp_path: Path
) -> None:
    sale_id = kiosk.prepare([OrderLineIn(400, 1, holders=[HANAKO])], "card", {"waiver": True})
    kiosk.jobs.clear()  # as after a restart: resume() carries the sale on
    kiosk.journal.paid(sale_id, "term-1")
    core.down = True  # paid, but the core cannot be told yet
    assert kiosk.resume().pending == [sale_id]
    assert PHOTO in _journalled_requests(tmp_path / "journal.sqlite3")[0]
    core.down = False
    kiosk.resume()
    assert kiosk.journal.get(sale_id).state == SaleState.PRINTED  # type: ignore[union-attr]
    sent = json.loads(core.order_calls()[-1].content)
    assert sent["lines"][0]["holders"][0]["photo"] == PHOTO
    assert PHOTO not in _journalled_requests(tmp_path / "journal.sqlite3")[0]


# -- staff are called for printer faults ----------------------------------------------


def test_paper_out_calls_staff_once_and_again_after_the_next_fault(
    core: FakeCore, tmp_path: Path
) -> None:
    profile = resolve_profile("epson-tm-t88-ja")
    printer = FaultyPrinter(profile=profile.escpos_profile)
    kiosk = make_kiosk(core, tmp_path, printer=printer)
    printer.fault = "paper_out"
    tick(kiosk)
    tick(kiosk)
    assert core.staff_calls == [{"reason": "printer", "detail": "paper_out"}]
    printer.fault = None
    tick(kiosk)
    printer.fault = "cover_open"
    tick(kiosk)
    assert [c["detail"] for c in core.staff_calls] == ["paper_out", "cover_open"]


def test_a_fault_in_the_middle_of_a_sale_calls_staff(core: FakeCore, tmp_path: Path) -> None:
    profile = resolve_profile("epson-tm-t88-ja")
    printer = FaultyPrinter(profile=profile.escpos_profile)
    kiosk = make_kiosk(core, tmp_path, printer=printer)
    printer.fault = "offline"
    result = kiosk.sell([OrderLineIn(100, 1)], "card", {"waiver": True})
    assert not result.printed
    assert core.staff_calls == [{"reason": "printer", "detail": "offline"}]


def test_an_undelivered_printer_call_is_retried_with_its_reason(
    core: FakeCore, tmp_path: Path
) -> None:
    profile = resolve_profile("epson-tm-t88-ja")
    printer = FaultyPrinter(profile=profile.escpos_profile)
    kiosk = make_kiosk(core, tmp_path, printer=printer)
    printer.fault = "paper_out"
    core.down = True
    tick(kiosk)
    core.down = False
    tick(kiosk)
    assert core.staff_calls == [{"reason": "printer", "detail": "paper_out"}]


def test_the_staff_screen_says_the_printer_called(core: FakeCore, tmp_path: Path) -> None:
    profile = resolve_profile("epson-tm-t88-ja")
    printer = FaultyPrinter(profile=profile.escpos_profile)
    kiosk = make_kiosk(core, tmp_path, printer=printer)
    printer.fault = "paper_out"
    tick(kiosk)
    with TestClient(app=create_app(kiosk, KioskConfig(staff_pin="2468"))) as staff:
        staff.post("/staff-menu/login", data={"pin": "2468"})
        menu = staff.get("/staff-menu")
    assert "プリンターの不具合でスタッフを呼び出しました" in menu.text
    assert "お客様がスタッフを呼んでいます" not in menu.text


def test_add_another_pass_draws_one_more_holder_block(client: TestClient) -> None:
    one = client.get("/product/40")
    two = client.get("/product/40?passes=2")
    assert one.text.count('class="holder"') == 1 and two.text.count('class="holder"') == 2
    assert 'href="/product/40?passes=3"' in two.text
    assert client.get("/product/40?passes=99").status_code == 400


def test_two_holder_blocks_sell_two_passes(client: TestClient, kiosk: Kiosk) -> None:
    form = {"product_id": "40", "passes": "2"}
    for i, (category, name) in enumerate([("400", "山田 花子"), ("400", "山田 太郎")]):
        form |= {
            f"holder_{i}_category": category,
            f"holder_{i}_name": name,
            f"holder_{i}_birth_date": "1990-04-01",
        }
    location = client.post("/cart", data=form, follow_redirects=False).headers["location"]
    (lines,) = kiosk.held_carts.values()
    assert location.startswith("/consent?cart=held:")
    assert [(line.quantity, [h.name for h in line.holders]) for line in lines] == [
        (2, ["山田 花子", "山田 太郎"])
    ]


def test_a_pass_without_birth_date_shows_the_page_again(client: TestClient) -> None:
    form = {"product_id": "40", "holder_0_category": "400", "holder_0_name": "山田 花子"}
    response = client.post("/cart", data=form)
    assert response.status_code == 400
    assert "お名前と生年月日を入力してください" in response.text
