"""Kiosk printing: ticket and receipt bytes on python-escpos' Dummy printer."""

from __future__ import annotations

import json

import msgspec
import pytest
import zxingcpp
from escpos.printer import Dummy
from PIL import Image

from kiosk_driver.layout import receipt_blocks, tickets_blocks
from kiosk_driver.printing import (
    FS_C_SHIFT_JIS,
    FS_KANJI_OFF,
    FS_KANJI_ON,
    Renderer,
    encode_sjis,
    print_receipt,
    print_tickets,
    qr_image,
)
from kiosk_driver.profiles import resolve_profile
from kippu_contract.v1.kiosk import KioskOrderOut
from tests.support.kiosk import FakeCore, answer_for


def _confirmation(lines: list[dict[str, int]]) -> KioskOrderOut:
    return answer_for([(line["price_category_id"], line["quantity"]) for line in lines])


def _print(profile_name: str, confirmation: KioskOrderOut, receipt: bool = False) -> bytes:
    profile = resolve_profile(profile_name)
    printer = Dummy(profile=profile.escpos_profile)
    if receipt:
        print_receipt(printer, profile, confirmation)
    else:
        print_tickets(printer, profile, confirmation)
    return printer.output


def _native_qr_command(data: str) -> bytes:
    payload = data.encode()
    size = len(payload) + 3
    return b"\x1d(k" + bytes([size % 256, size // 256]) + b"1P0" + payload


def test_ticket_carries_token_in_native_qr_command() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    output = _print("epson-tm-t88-ja", confirmation)
    assert _native_qr_command(confirmation.tickets[0].qr_token) in output


def test_each_ticket_gets_its_own_qr_and_cut() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 2}])
    output = _print("epson-tm-t88-ja", confirmation)
    for ticket in confirmation.tickets:
        assert _native_qr_command(ticket.qr_token) in output
    assert output.count(b"\x1dV") == 2


def test_raster_fallback_image_decodes_to_the_token() -> None:
    token = _confirmation([{"price_category_id": 100, "quantity": 1}]).tickets[0].qr_token
    image = qr_image(token, max_dots=384)
    assert image.width <= 384
    results = zxingcpp.read_barcodes(image.convert("L"))
    assert [r.text for r in results] == [token]


def test_profile_without_native_qr_sends_a_decodable_raster_image() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    output = _print("generic-58", confirmation)
    assert b"\x1d(k" not in output
    # Decode the GS v 0 raster the printer received, not just the image we built.
    start = output.index(b"\x1dv0")
    # GS v 0 m xL xH yL yH, then the raster rows.
    width_bytes = output[start + 4] + 256 * output[start + 5]
    height = output[start + 6] + 256 * output[start + 7]
    raster = output[start + 8 : start + 8 + width_bytes * height]
    image = Image.frombytes("1", (width_bytes * 8, height), raster)
    inverted = Image.eval(image.convert("L"), lambda v: 255 - v)  # ESC/POS: 1 bit = black
    assert [r.text for r in zxingcpp.read_barcodes(inverted)] == [confirmation.tickets[0].qr_token]


def test_kanji_profile_enters_kanji_mode_and_sends_shift_jis() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    output = _print("epson-tm-t88-ja", confirmation)
    assert FS_C_SHIFT_JIS + FS_KANJI_ON in output
    assert output.rstrip().endswith(FS_KANJI_OFF) or FS_KANJI_OFF in output
    assert "森のアスレチック".encode("cp932") in output
    assert "入園券".encode("cp932") in output
    assert b"Forest Adventure Park" in output  # the English line follows the Japanese


def test_ascii_profile_prints_english_only() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    output = _print("generic-80", confirmation)
    assert FS_KANJI_ON not in output
    assert b"Forest Adventure Park" in output
    assert b"Day admission" in output
    assert "入園券".encode("cp932") not in output
    assert "入園券".encode() not in output


def test_ticket_shows_price_tax_rate_validity_and_registration_number() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    output = _print("generic-80", confirmation)
    assert b"JPY 1,800" in output
    assert b"incl. 10% consumption tax" in output
    assert b"2026-11-25" in output
    assert b"Registration No. T9234567890123" in output


def test_a_number_failing_its_check_digit_is_not_printed() -> None:
    import msgspec

    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    broken = msgspec.structs.replace(
        confirmation.facility, tax_registration_number="T1234567890123"
    )
    output = _print("generic-80", msgspec.structs.replace(confirmation, facility=broken))
    assert b"Registration No." not in output and b"T1234567890123" not in output


def test_coupon_book_has_one_qr_and_uses_text() -> None:
    confirmation = _confirmation([{"price_category_id": 200, "quantity": 1}])
    output = _print("epson-tm-t88-ja", confirmation)
    assert output.count(b"\x1d(k") == 5  # one QR: model, size, ec, store, print
    assert encode_sjis("10回券") in output
    assert b"10-use ticket" in output


def test_receipt_shows_tax_per_rate_and_addressee_line() -> None:
    confirmation = _confirmation(
        [{"price_category_id": 100, "quantity": 2}, {"price_category_id": 101, "quantity": 1}]
    )
    output = _print("epson-tm-t88-ja", confirmation, receipt=True)
    # 4,500 at 10%: tax = 4500 * 10 / 110 = 409
    assert encode_sjis("(10%対象 ¥4,500 内消費税 ¥409)") in output
    assert encode_sjis("領収書") in output
    assert encode_sjis(" 様") in output
    assert encode_sjis("クレジットカード") in output
    assert b"T9234567890123" in output


def test_receipt_with_two_tax_rates_lists_both() -> None:
    core = FakeCore()
    core.catalog.products[1].tax_rate = 8
    confirmation = answer_for([(100, 1), (200, 1)], "emoney", core)
    profile = resolve_profile("generic-80")
    printer = Dummy(profile=profile.escpos_profile)
    print_receipt(printer, profile, confirmation, locale="en")
    assert b"(10% items JPY 1,800, incl. tax JPY 163)" in printer.output
    assert b"(8% items JPY 3,000, incl. tax JPY 222)" in printer.output
    assert b"E-money" in printer.output


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_visitor_facing_text_block_has_both_languages(language: str) -> None:
    from kiosk_driver.layout import Row, Text

    confirmation = _confirmation([{"price_category_id": 200, "quantity": 1}])
    for block in tickets_blocks(confirmation) + receipt_blocks(confirmation):
        if isinstance(block, Text):
            assert block.ja and block.en
        if isinstance(block, Row):
            assert block.label_ja and block.label_en


def test_printer_failure_is_reported_as_printer_fault() -> None:
    from kiosk_driver.errors import PrinterFault

    class Broken(Dummy):
        def _raw(self, msg: bytes) -> None:
            raise OSError("paper out")

    profile = resolve_profile("epson-tm-t88-ja")
    with pytest.raises(PrinterFault):
        Renderer(Broken(), profile).render(
            tickets_blocks(_confirmation([{"price_category_id": 100, "quantity": 1}]))
        )


def test_confirmation_round_trips_through_json() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 1}])
    stored = json.loads(json.dumps(msgspec.to_builtins(confirmation)))
    assert msgspec.convert(stored, KioskOrderOut) == confirmation


def test_long_english_lines_wrap_between_words_on_58mm() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 3}])
    profile = resolve_profile("generic-58")
    printer = Dummy(profile=profile.escpos_profile)
    print_receipt(printer, profile, confirmation)
    lines = printer.output.split(b"\n")
    assert any(line.endswith(b"(10% items JPY 5,400, incl. tax") for line in lines)
    assert any(line.endswith(b"JPY 490)") for line in lines)


def test_a_timed_ticket_shows_its_entry_time_and_a_pass_its_holder() -> None:
    confirmation = _confirmation([{"price_category_id": 100, "quantity": 2}])
    confirmation.tickets[0].slot = "11:30"
    confirmation.tickets[1].holder_name = "Hanako Yamada"
    output = _print("generic-80", confirmation)
    assert output.count(b"Entry time") == 1 and b"11:30" in output
    assert output.count(b"Holder") == 1 and b"Hanako Yamada" in output
    kanji = _print("epson-tm-t88-ja", confirmation)
    assert encode_sjis("入場時間") in kanji and encode_sjis("ご利用者") in kanji
