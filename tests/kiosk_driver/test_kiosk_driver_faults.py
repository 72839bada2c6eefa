"""Fault injection: crashes at each step, lost answers, refusals, printer faults.

Every test ends with the issue's three promises: no paid sale without tickets (or a
refund), no ticket printed twice without the 再発行 / REPRINT mark, no double charge.
A "crash" is a SystemExit raised at the step, after which a fresh Kiosk is built on the
same journal file and the same (file-backed) simulated terminal, as a restarted process
would be.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from escpos.printer import Dummy

from kiosk_driver.errors import ConfirmationPending, OrderConflict, PaymentTimeout
from kiosk_driver.faults import FaultyPrinter
from kiosk_driver.health import blocked_reason, tick
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support.kiosk import FakeCore, make_kiosk

TWO = [OrderLineIn(100, 2)]
WAIVER = {"waiver": True}
REPRINT = "再発行".encode("cp932")


def _restart(core: FakeCore, tmp_path: Path, printer: Dummy | None = None) -> Kiosk:
    return make_kiosk(
        core,
        tmp_path,
        terminal=SimulatedTerminal(state_path=tmp_path / "terminal.json"),
        journal=Journal(tmp_path / "journal.sqlite3"),
        printer=printer,
    )


def _crash(*args: object, **kwargs: object) -> None:
    raise SystemExit("power cut")


CRASH_POINTS = ["before_charge", "after_approval", "after_paid", "after_confirm", "mid_print"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_each_step_loses_nothing_and_charges_once(point: str, tmp_path: Path) -> None:
    core = FakeCore()
    first = _restart(core, tmp_path)
    terminal = first.terminal
    assert isinstance(terminal, SimulatedTerminal)
    if point == "before_charge":
        terminal.charge = _crash  # type: ignore[method-assign]
    elif point == "after_approval":
        real = terminal.charge
        terminal.charge = lambda *a: (real(*a), _crash())[1]  # type: ignore[method-assign,func-returns-value]
    elif point == "after_paid":
        first._confirm = _crash  # type: ignore[method-assign]
    elif point == "after_confirm":
        first._print = _crash  # type: ignore[method-assign]
    else:
        first.journal.ticket_print_done = _crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        first.sell(TWO, "card", WAIVER)

    restarted = _restart(core, tmp_path)
    restarted.resume()
    restarted.resume()  # a second pass must change nothing
    paper = first.printer.output + restarted.printer.output
    [record] = restarted.journal.recent()
    charged = SimulatedTerminal(state_path=tmp_path / "terminal.json").approved
    if point == "before_charge":
        assert record.state == SaleState.FAILED and charged == {} and core.orders == {}
        return
    assert record.state == SaleState.PRINTED
    assert len(charged) == 1 and len(core.orders) == 1  # one charge, one order
    tokens = [t["qr_token"].encode() for t in record.confirmation["tickets"]]
    if point == "mid_print":
        # Ticket 1 was on paper when the power went: its second copy says 再発行.
        assert paper.count(tokens[0]) == 2 and paper.count(tokens[1]) == 1
        assert paper.count(REPRINT) == 2  # at the top and beside the QR code
    else:
        assert [paper.count(t) for t in tokens] == [1, 1] and REPRINT not in paper


def test_lost_confirm_answer_and_restart_replays_the_same_order(tmp_path: Path) -> None:
    core = FakeCore(lose_order_responses=1, fail_orders=0)
    first = _restart(core, tmp_path)
    first.confirm_attempts = 1
    with pytest.raises(ConfirmationPending):
        first.sell(TWO, "card", WAIVER)
    restarted = _restart(core, tmp_path)
    report = restarted.resume()
    assert len(report.printed) == 1 and len(core.orders) == 1
    assert len(core.order_calls()) == 2  # the replay, with the same Idempotency-Key
    assert len({c.headers["Idempotency-Key"] for c in core.order_calls()}) == 1


def test_core_409_voids_at_the_terminal_and_the_screen_says_so(tmp_path: Path) -> None:
    core = FakeCore(conflict="sold out")
    kiosk = _restart(core, tmp_path)
    sale_id = kiosk.start_sale(TWO, "card", WAIVER)
    _wait(kiosk, sale_id)
    assert isinstance(kiosk.jobs[sale_id].error, OrderConflict)
    assert kiosk.journal.get(sale_id).state == SaleState.VOIDED
    assert len(kiosk.terminal.voided) == 1  # type: ignore[attr-defined]


def test_terminal_timeout_takes_no_money(tmp_path: Path) -> None:
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path, terminal=SimulatedTerminal(outcome="timeout"))
    with pytest.raises(PaymentTimeout):
        kiosk.sell(TWO, "card", WAIVER)
    assert core.order_calls() == [] and kiosk.terminal.approved == {}  # type: ignore[attr-defined]


def _wait(kiosk: Kiosk, sale_id: str) -> None:
    for _ in range(500):
        if kiosk.jobs[sale_id].done:
            return
        time.sleep(0.01)
    raise AssertionError("sale did not finish")


def _faulty(tmp_path: Path, core: FakeCore) -> Kiosk:
    profile = resolve_profile("epson-tm-t88-ja")
    return make_kiosk(core, tmp_path, printer=FaultyPrinter(profile=profile.escpos_profile))


def test_paper_out_mid_ticket_waits_then_resumes_with_a_marked_copy(tmp_path: Path) -> None:
    reference = make_kiosk(FakeCore(), tmp_path / "ref")
    reference.sell(TWO, "card", WAIVER)
    per_ticket = len(reference.printer.output) // 2

    core = FakeCore()
    kiosk = _faulty(tmp_path, core)
    printer = kiosk.printer
    assert isinstance(printer, FaultyPrinter)
    printer.inject("paper_out", after_bytes=per_ticket + per_ticket // 3)  # inside ticket 2
    result = kiosk.sell(TWO, "card", WAIVER)
    assert not result.printed and kiosk.journal.get(result.sale_id).state == SaleState.CONFIRMED
    assert blocked_reason(kiosk) == "paper_out"  # no new visitor pays meanwhile
    tick(kiosk)  # the fault is still there: nothing more is printed
    assert kiosk.journal.get(result.sale_id).state == SaleState.CONFIRMED
    printer.clear()  # staff load a new roll
    assert blocked_reason(kiosk) == "unprinted"
    tick(kiosk)  # the background loop prints without a restart
    assert kiosk.journal.get(result.sale_id).state == SaleState.PRINTED
    assert blocked_reason(kiosk) is None
    first, second = (t.qr_token.encode() for t in result.confirmation.tickets)
    assert printer.output.count(first) == 1  # finished before the fault: never again
    assert printer.output.count(REPRINT) == 2  # ticket 2's new copy is marked
    assert len(core.orders) == 1


@pytest.mark.parametrize("fault", ["cover_open", "offline"])
def test_printer_fault_before_printing_needs_no_reprint_mark(fault: str, tmp_path: Path) -> None:
    kiosk = _faulty(tmp_path, FakeCore())
    printer = kiosk.printer
    assert isinstance(printer, FaultyPrinter)
    printer.inject(fault)  # type: ignore[arg-type]
    assert blocked_reason(kiosk) == fault
    result = kiosk.sell(TWO, "card", WAIVER)
    assert not result.printed and result.print_error == fault
    printer.clear()
    tick(kiosk)
    assert kiosk.journal.get(result.sale_id).state == SaleState.PRINTED
    assert REPRINT not in printer.output  # the status query stopped it before any byte


def test_unreachable_core_after_payment_is_confirmed_and_printed_by_the_loop(
    tmp_path: Path,
) -> None:
    core = FakeCore(fail_orders=100)
    kiosk = make_kiosk(core, tmp_path)
    with pytest.raises(ConfirmationPending):
        kiosk.sell(TWO, "card", WAIVER)
    assert blocked_reason(kiosk) == "unconfirmed"
    tick(kiosk)  # still down: stays paid
    core.fail_orders = 0
    tick(kiosk)
    [record] = kiosk.journal.recent()
    assert record.state == SaleState.PRINTED and blocked_reason(kiosk) is None


def test_staff_reprint_marks_every_copy(tmp_path: Path) -> None:
    kiosk = make_kiosk(FakeCore(), tmp_path)
    result = kiosk.sell(TWO, "card", WAIVER)
    before = len(kiosk.printer.output)
    kiosk.reprint(result.sale_id)
    again = kiosk.printer.output[before:]
    assert again.count(REPRINT) == 4  # two tickets, two marks each
    for ticket in result.confirmation.tickets:
        assert again.count(ticket.qr_token.encode()) == 1
