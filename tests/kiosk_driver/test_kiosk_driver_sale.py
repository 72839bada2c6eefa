"""Kiosk sale flow, journal and recovery, against a fake core (httpx.MockTransport)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk_driver.errors import (
    ConfirmationPending,
    CoreUnavailable,
    InvalidRequest,
    OrderConflict,
    PaymentDeclined,
)
from kiosk_driver.journal import Journal
from kiosk_driver.runtime import simulate_sale
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support.kiosk import FakeCore, make_config, make_kiosk

ADULT_TWO = [OrderLineIn(100, 2)]
WAIVER = {"waiver": True}


def test_sale_confirms_with_core_and_prints_tickets(tmp_path: Path) -> None:
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path)
    result = kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert result.printed
    assert result.confirmation.order.total == 3600
    assert kiosk.journal.get(result.sale_id).state == SaleState.PRINTED
    [call] = core.order_calls()
    assert call.headers["Idempotency-Key"] == result.sale_id
    assert call.headers["Authorization"] == "Bearer device-token-123"


def test_retried_confirm_reuses_the_same_idempotency_key(tmp_path: Path) -> None:
    core = FakeCore(fail_orders=2)
    kiosk = make_kiosk(core, tmp_path)
    result = kiosk.sell(ADULT_TWO, "card", WAIVER)
    keys = {c.headers["Idempotency-Key"] for c in core.order_calls()}
    assert len(core.order_calls()) == 3
    assert keys == {result.sale_id}
    assert len(core.orders) == 1


def test_lost_response_is_replayed_into_the_same_order(tmp_path: Path) -> None:
    core = FakeCore(lose_order_responses=1)
    kiosk = make_kiosk(core, tmp_path)
    result = kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert result.replayed
    assert len(core.orders) == 1
    assert len(result.confirmation.tickets) == 2


def test_conflict_from_core_voids_the_terminal_payment(tmp_path: Path) -> None:
    core = FakeCore(conflict="sold out")
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with pytest.raises(OrderConflict):
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    [payment] = terminal.approved.values()
    assert terminal.voided == [payment.reference]
    [record] = kiosk.journal.in_state(SaleState.VOIDED)
    assert record.error == "sold out"
    assert kiosk.printer.output == b""


def test_failed_void_is_recorded_for_staff(tmp_path: Path) -> None:
    core = FakeCore(conflict="amount mismatch")
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(void_fails=True))
    with pytest.raises(OrderConflict):
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert len(kiosk.journal.in_state(SaleState.VOID_FAILED)) == 1


def test_declined_payment_never_reaches_the_core(tmp_path: Path) -> None:
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="decline"))
    with pytest.raises(PaymentDeclined):
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert core.order_calls() == []
    assert len(kiosk.journal.in_state(SaleState.FAILED)) == 1


def test_unreachable_core_before_payment_takes_no_money(tmp_path: Path) -> None:
    core = FakeCore(down=True)
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with pytest.raises(CoreUnavailable):
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert terminal.approved == {}


def test_unreachable_core_after_payment_leaves_sale_paid_for_resume(tmp_path: Path) -> None:
    core = FakeCore(fail_orders=10)
    kiosk = make_kiosk(core, tmp_path)
    with pytest.raises(ConfirmationPending) as excinfo:
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert kiosk.journal.get(excinfo.value.sale_id).state == SaleState.PAID
    core.fail_orders = 0
    report = kiosk.resume()
    assert report.confirmed == [excinfo.value.sale_id]
    assert report.printed == [excinfo.value.sale_id]
    keys = {c.headers["Idempotency-Key"] for c in core.order_calls()}
    assert keys == {excinfo.value.sale_id}


def test_resume_voids_a_paid_sale_the_core_refuses(tmp_path: Path) -> None:
    core = FakeCore(fail_orders=10)
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    with pytest.raises(ConfirmationPending) as excinfo:
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    core.fail_orders, core.conflict = 0, "sold out"
    report = kiosk.resume()
    assert report.voided == [excinfo.value.sale_id]
    assert len(terminal.voided) == 1


def test_resume_prints_a_confirmed_unprinted_sale_exactly_once(tmp_path: Path) -> None:
    core = FakeCore()
    journal = Journal(tmp_path / "journal.sqlite3")
    first = make_kiosk(core, tmp_path, journal=journal)

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemExit("power cut")  # dies between confirm and print

    first._print = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        first.sell(ADULT_TWO, "card", WAIVER)
    [record] = journal.in_state(SaleState.CONFIRMED)

    restarted = make_kiosk(core, tmp_path, journal=journal)
    assert restarted.resume().printed == [record.id]
    assert restarted.resume().printed == []
    tokens = [t["qr_token"].encode() for t in record.confirmation["tickets"]]
    for token in tokens:
        assert restarted.printer.output.count(token) == 1
    assert len(core.order_calls()) == 1


def test_resume_asks_the_terminal_about_a_sale_interrupted_mid_payment(tmp_path: Path) -> None:
    core = FakeCore()
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    charged = kiosk.journal.start(
        {
            "lines": [{"price_category_id": 100, "quantity": 1}],
            "answers": WAIVER,
            "method": "card",
            "amount": 1800,
            "locale": "ja",
        }
    )
    terminal.charge(1800, "card", charged)  # the terminal approved; the kiosk then died
    untouched = kiosk.journal.start({"lines": [], "method": "card", "amount": 1800})
    report = kiosk.resume()
    assert report.abandoned == [untouched]
    assert report.printed == [charged]


def test_printer_fault_keeps_sale_confirmed_until_resume(tmp_path: Path) -> None:
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path)
    real_raw = kiosk.printer._raw
    kiosk.printer._raw = lambda msg: (_ for _ in ()).throw(OSError("cover open"))
    result = kiosk.sell(ADULT_TWO, "card", WAIVER)
    assert not result.printed and result.print_error
    assert kiosk.journal.get(result.sale_id).state == SaleState.CONFIRMED
    kiosk.printer._raw = real_raw
    assert kiosk.resume().printed == [result.sale_id]


def test_required_consent_is_enforced_before_payment(tmp_path: Path) -> None:
    terminal = SimulatedTerminal()
    kiosk = make_kiosk(FakeCore(), tmp_path, terminal=terminal)
    with pytest.raises(InvalidRequest):
        kiosk.sell(ADULT_TWO, "card", {})
    assert terminal.approved == {}


def test_amount_includes_handling_fee(tmp_path: Path) -> None:
    core = FakeCore()
    core.catalog.products[0].price_categories[0].handling_fee = 200
    kiosk = make_kiosk(core, tmp_path)
    result = kiosk.sell([OrderLineIn(100, 1)], "card", WAIVER)
    assert result.confirmation.order.total == 2000


def test_receipt_prints_once_per_sale(tmp_path: Path) -> None:
    kiosk = make_kiosk(FakeCore(), tmp_path)
    result = kiosk.sell(ADULT_TWO, "qr", WAIVER)
    kiosk.print_receipt(result.sale_id)
    with pytest.raises(Exception, match="already printed"):
        kiosk.print_receipt(result.sale_id)
    assert kiosk.printer.output.count("領収書".encode("cp932")) == 1


def test_heartbeat_reports_health_and_last_sale(tmp_path: Path) -> None:
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path)
    kiosk.sell(ADULT_TWO, "card", WAIVER)
    kiosk.heartbeat()
    [beat] = core.heartbeats
    assert beat["printer"] == "ok" and beat["terminal"] == "ok"
    assert beat["last_sale_at"] is not None


def test_simulate_sale_returns_printed_bytes_and_receipt(tmp_path: Path) -> None:
    core = FakeCore()
    result = simulate_sale(
        make_config(tmp_path),
        [(100, 1), (200, 1)],
        receipt=True,
        transport=core.transport(),
        terminal=SimulatedTerminal(),
    )
    assert result.sale.printed
    assert result.output.count(b"\x1d(k") == 10  # two QR codes, five commands each
    assert "領収書".encode("cp932") in result.output
    assert core.order_calls()[0].headers["Idempotency-Key"] == result.sale.sale_id


def test_background_resume_confirms_but_does_not_print(tmp_path: Path) -> None:
    core = FakeCore(fail_orders=10)
    kiosk = make_kiosk(core, tmp_path)
    with pytest.raises(ConfirmationPending) as excinfo:
        kiosk.sell(ADULT_TWO, "card", WAIVER)
    core.fail_orders = 0
    report = kiosk.resume(print_pending=False)
    assert report.confirmed == [excinfo.value.sale_id] and report.printed == []
    assert kiosk.journal.get(excinfo.value.sale_id).state == SaleState.CONFIRMED
    assert kiosk.printer.output == b""


def test_run_kiosk_resumes_then_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from kiosk_driver import runtime

    core = FakeCore()
    served: list[object] = []
    real_build = runtime.build_kiosk
    monkeypatch.setattr(
        runtime, "build_kiosk", lambda config: real_build(config, transport=core.transport())
    )
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append((app, kwargs)))
    runtime.run_kiosk(make_config(tmp_path, port=8765, heartbeat_seconds=3600))
    [(app, kwargs)] = served
    assert kwargs == {"host": "127.0.0.1", "port": 8765}
    assert len(core.heartbeats) == 1  # one beat at start, then every heartbeat_seconds
