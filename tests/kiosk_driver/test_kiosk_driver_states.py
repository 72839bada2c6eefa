"""The kiosk sale's state machine: one guarded step per transition, replays are no-ops,
and journals written by the previous driver still load, confirm and print."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiosk_driver.errors import JournalStateError
from kiosk_driver.journal import Journal
from kiosk_driver.printing import encode_sjis
from kiosk_driver.sale_state import FINAL_STATES, OPEN_STATES, TRANSITIONS, SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support import REPO_ROOT
from tests.support.kiosk import QR_TOKEN, FakeCore, make_kiosk

ROOT = REPO_ROOT
WAIVER = {"waiver": True}
REQUEST = {
    "lines": [{"price_category_id": 100, "quantity": 1}],
    "answers": WAIVER,
    "method": "card",
    "amount": 1800,
    "locale": "ja",
}

#: A confirmation as driver 0.2.0 journalled it: ``msgspec.to_builtins`` of its own copy
#: of the shapes, which had dropped what it did not know (channel, created_at, the lines'
#: handling_fee and visit_date, the tickets' status and uses_left) and added ``replayed``.
DRIVER_0_2_CONFIRMATION: dict[str, Any] = {
    "order": {
        "code": "K00042",
        "status": "paid",
        "total": 1800,
        "paid_at": "2026-11-25T10:15:00+09:00",
        "payment_method": "card",
        "lines": [
            {
                "product_name_ja": "入園券",
                "product_name_en": "Day admission",
                "category_name_ja": "大人",
                "category_name_en": "Adult",
                "quantity": 1,
                "unit_price": 1800,
                "tax_rate": 10,
                "line_total": 1800,
            }
        ],
        "tax_summary": [{"rate": 10, "total": 1800, "tax": 163}],
    },
    "tickets": [
        {
            "id": 4242,
            "product_kind": "day_admission",
            "product_name_ja": "入園券",
            "product_name_en": "Day admission",
            "category_name_ja": "大人",
            "category_name_en": "Adult",
            "price": 1800,
            "tax_rate": 10,
            "qr_token": f"{QR_TOKEN}.4242",
            "valid_from": "2026-11-25",
            "valid_until": "2026-11-25",
            "uses_total": 1,
            "book_id": None,
            "coupon_no": 0,
            "coupon_count": 0,
        }
    ],
    "facility": {
        "id": 1,
        "name_ja": "森のアスレチック",
        "name_en": "Forest Adventure Park",
        "slug": "mori-park",
        "tax_registration_number": "T9234567890123",
    },
    "replayed": False,
}


def _old_row(path: Path, state: str, confirmation: dict[str, Any] | None = None) -> str:
    """A sale written straight into the journal's table, as driver 0.2.0 left it."""
    Journal(path).close()  # the schema
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO sales (id, state, request, payment_ref, order_code, confirmation,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "old-sale-1",
            state,
            json.dumps(REQUEST),
            "SIM-OLD",
            confirmation and confirmation["order"]["code"],
            confirmation and json.dumps(confirmation),
            "2026-11-25T01:14:00+00:00",
            "2026-11-25T01:15:00+00:00",
        ),
    )
    db.commit()
    db.close()
    return "old-sale-1"


# -- the states -----------------------------------------------------------------------


def test_state_values_are_the_journals_on_disk_strings() -> None:
    assert [s.value for s in SaleState] == [
        "started",
        "paid",
        "confirmed",
        "printed",
        "failed",
        "voided",
        "void_failed",
    ]
    assert set(OPEN_STATES) | set(FINAL_STATES) == set(SaleState)


def test_every_transition_is_a_journal_method() -> None:
    for name in TRANSITIONS:
        assert callable(getattr(Journal, name)), name


def test_docs_table_lists_every_transition() -> None:
    """docs/kiosk.md's "Kiosk sale states" table is the code's table."""
    text = (ROOT / "docs" / "kiosk.md").read_text(encoding="utf-8")
    section = text.split("## Kiosk sale states", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)\(\)` \| `(\w+)` \|", section, re.MULTILINE)
    documented = {(name, source, target) for source, name, target in rows}
    assert documented == {(t.name, t.source, t.target) for t in TRANSITIONS.values()}


# -- one guarded step per transition ----------------------------------------------------


def test_journal_refuses_a_transition_from_the_wrong_state(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start({"lines": []})
    with pytest.raises(JournalStateError):
        journal.printed(sale)
    with pytest.raises(JournalStateError):
        journal.voided(sale, "not paid yet")
    assert journal.get(sale).state == SaleState.STARTED


def test_repeated_payment_with_the_same_reference_is_a_no_op(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start({"lines": []})
    assert journal.paid(sale, "REF") is True
    assert journal.paid(sale, "REF") is False
    assert [state for state, _ in journal.events(sale)] == ["started", "paid"]


def test_a_second_payment_reference_for_one_sale_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start({"lines": []})
    journal.paid(sale, "REF")
    with pytest.raises(JournalStateError):
        journal.paid(sale, "REF2")
    assert journal.get(sale).payment_ref == "REF"


def test_repeated_printed_is_a_no_op(tmp_path: Path) -> None:
    kiosk = make_kiosk(FakeCore(), tmp_path)
    result = kiosk.sell([OrderLineIn(100, 1)], "card", WAIVER)
    assert kiosk.journal.printed(result.sale_id) is False
    assert [s for s, _ in kiosk.journal.events(result.sale_id)].count("printed") == 1


def test_completing_a_printed_sale_again_charges_calls_and_prints_nothing(
    tmp_path: Path,
) -> None:
    core, terminal = FakeCore(), SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    first = kiosk.sell([OrderLineIn(100, 2)], "card", WAIVER)
    paper, calls = kiosk.printer.output, len(core.calls)
    again = kiosk.complete(first.sale_id)
    assert again.printed and again.confirmation == first.confirmation
    assert kiosk.printer.output == paper and len(core.calls) == calls
    assert len(terminal.approved) == 1


def test_completing_a_paid_sale_confirms_it_without_charging_again(tmp_path: Path) -> None:
    core, terminal = FakeCore(fail_orders=10), SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    sale_id = kiosk.prepare([OrderLineIn(100, 1)], "card", WAIVER)
    with pytest.raises(Exception, match="confirm"):
        kiosk.complete(sale_id)
    core.fail_orders = 0
    assert kiosk.complete(sale_id).printed
    assert len(terminal.approved) == 1 and len(core.orders) == 1


def test_completing_a_voided_sale_is_refused(tmp_path: Path) -> None:
    core = FakeCore(conflict="sold out")
    kiosk = make_kiosk(core, tmp_path)
    sale_id = kiosk.prepare([OrderLineIn(100, 1)], "card", WAIVER)
    with pytest.raises(Exception, match="sold out"):
        kiosk.complete(sale_id)
    with pytest.raises(JournalStateError, match="voided"):
        kiosk.complete(sale_id)


def test_receipt_is_journalled_once(tmp_path: Path) -> None:
    kiosk = make_kiosk(FakeCore(), tmp_path)
    result = kiosk.sell([OrderLineIn(100, 1)], "card", WAIVER)
    assert kiosk.journal.receipt_printed(result.sale_id) is True
    assert kiosk.journal.receipt_printed(result.sale_id) is False


# -- journals of the previous driver ----------------------------------------------------


def test_sale_confirmed_by_the_previous_driver_prints_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    sale_id = _old_row(path, "confirmed", DRIVER_0_2_CONFIRMATION)
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path, journal=Journal(path))
    assert kiosk.resume().printed == [sale_id]
    assert f"{QR_TOKEN}.4242".encode() in kiosk.printer.output
    assert b"2026-11-25" in kiosk.printer.output
    assert core.order_calls() == []  # confirmed already: the core is not asked again
    kiosk.print_receipt(sale_id)
    assert encode_sjis("(10%対象 ¥1,800 内消費税 ¥163)") in kiosk.printer.output


def test_previous_drivers_confirmation_decodes_with_what_the_core_sent(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    sale_id = _old_row(path, "printed", DRIVER_0_2_CONFIRMATION)
    kiosk = make_kiosk(FakeCore(), tmp_path, journal=Journal(path))
    answer = kiosk.confirmation(sale_id)
    assert answer.order.code == "K00042" and answer.order.channel == "kiosk"
    assert answer.order.created_at == answer.order.paid_at
    [ticket] = answer.tickets
    assert (ticket.id, ticket.status, ticket.uses_left, ticket.valid_from.isoformat()) == (
        4242,
        "valid",
        1,
        "2026-11-25",
    )
    assert answer.facility.tax_registration_number == "T9234567890123"


def test_sale_paid_under_the_previous_driver_is_confirmed_after_the_upgrade(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    sale_id = _old_row(path, "paid")
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path, journal=Journal(path))
    report = kiosk.resume()
    assert report.confirmed == [sale_id] and report.printed == [sale_id]
    [call] = core.order_calls()
    assert call.headers["Idempotency-Key"] == sale_id
    assert json.loads(call.content)["payment"] == {
        "method": "card",
        "reference": "SIM-OLD",
        "amount": 1800,
    }
