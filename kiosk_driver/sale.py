"""The sale orchestrator: catalog → cart → consent → payment → confirm → print.

:class:`Kiosk` owns the boundaries (core client, payment terminal, printer, journal) and
walks each sale through the states of :mod:`kiosk_driver.sale_state`, one step per
state, each step taken only from its own state; so :meth:`Kiosk.complete` and
:meth:`Kiosk.resume` can be called again at any time (a retry, a restart after a crash)
and carry a sale on from where the journal has it, never charging or printing twice.
The UI and :func:`kiosk_driver.runtime.simulate_sale` both call it; neither talks to the
boundaries directly.

Failure policy, in the order a sale meets it:

- core unreachable before payment: ``CoreUnavailable`` (out of service), no money taken.
- terminal declines / times out / is cancelled: the sale is ``failed``, nothing to undo.
- core unreachable after payment: retried with the same Idempotency-Key; if still down,
  ``ConfirmationPending`` and the sale stays ``paid`` for ``resume()`` (never voided blind,
  because the core may have created the order and only the answer was lost).
- core refuses (409 sold out / amount mismatch, 4xx): the payment is voided at the
  terminal and the refusal is re-raised.
- terminal stops answering mid-payment (``PaymentUnknown``): the sale stays ``started``
  and :meth:`Kiosk.resume` asks the terminal (``find``) whether the visitor paid.
- printer fails: the sale is complete (``confirmed``); the kiosk stops selling and the
  background loop prints as soon as the printer reports ready again. Tickets are printed
  one by one and each copy is journalled first, so a ticket that may already be on paper
  is only ever printed again with the 再発行 / REPRINT mark.

A time stay's payment (精算, :mod:`kiosk_driver.stay`) is journalled and walked through
the same states; only its confirm (the stay's charge, keyed by the quoted period) and its
paper (the receipt) differ.

The UI does not wait on a sale: :meth:`Kiosk.start_sale` journals it and runs the
terminal, confirm and print steps on a worker thread; the waiting page polls the journal.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec
from escpos.escpos import Escpos

from kiosk_driver.catalog import cart_problem, find_category, sold_out, unit_amount
from kiosk_driver.core_client import CoreClient, OrderReply
from kiosk_driver.errors import (
    ConfirmationPending,
    CoreRefused,
    CoreUnavailable,
    InvalidRequest,
    JournalStateError,
    KioskError,
    OrderConflict,
    OutOfService,
    PaymentFailed,
    PrinterFault,
)
from kiosk_driver.journal import Journal, SaleRecord
from kiosk_driver.journal_format import decode_confirmation
from kiosk_driver.printing import print_receipt, print_ticket, printer_fault
from kiosk_driver.profiles import PrinterProfile
from kiosk_driver.sale_state import SaleState
from kiosk_driver.stay import is_stay, stay_order, stay_request
from kiosk_driver.terminal import PaymentTerminal
from kippu_contract.v1.kiosk import (
    CatalogOut,
    KioskOrderIn,
    KioskOrderOut,
    KioskPaymentIn,
    OrderLineIn,
    StayChargeOut,
    VoucherQuoteOut,
)

log = logging.getLogger(__name__)
VERSION = "0.3.0"


@dataclass
class SaleResult:
    """A completed sale (paid and confirmed by the core)."""

    sale_id: str
    confirmation: KioskOrderOut
    printed: bool
    print_error: str | None = None
    #: The core answered a repeated Idempotency-Key: an earlier attempt created the order.
    replayed: bool = False


@dataclass
class SaleJob:
    """A sale running on a worker thread; the waiting page reads it."""

    sale_id: str
    done: bool = False
    result: SaleResult | None = None
    error: BaseException | None = None


@dataclass
class ResumeReport:
    """What :meth:`Kiosk.resume` did, sale ids per outcome."""

    abandoned: list[str] = field(default_factory=list)  # interrupted before any money moved
    confirmed: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # still waiting for core or printer


class Kiosk:
    """One kiosk: sells to one visitor at a time (a lock serialises UI and resume)."""

    def __init__(
        self,
        core: CoreClient,
        terminal: PaymentTerminal,
        printer: Escpos,
        profile: PrinterProfile,
        journal: Journal,
        *,
        confirm_attempts: int = 3,
        retry_delay: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = core
        self.terminal = terminal
        self.printer = printer
        self.profile = profile
        self.journal = journal
        self.confirm_attempts = confirm_attempts
        self.retry_delay = retry_delay
        self._sleep = sleep
        self._lock = threading.RLock()  # one sale (or resume) at a time
        # Status queries and print jobs must not interleave on the printer's wire.
        self._printer_lock = threading.Lock()
        self._catalog: CatalogOut | None = None
        self.staff_called = False  # a visitor pressed the button (cleared by staff)
        self.staff_call_pending = False  # the core has not heard the call yet
        self.last_call: tuple[str, str] = ("visitor", "")  # what a pending call says
        self.printer_call: str | None = None  # the printer fault staff were called for
        # Carts with pass holders (photos too) wait here between the product page and
        # the payment, never in a URL or on disk; the start screen drops them.
        self.held_carts: dict[str, list[OrderLineIn]] = {}
        self.jobs: dict[str, SaleJob] = {}
        self.print_problem: str | None = None  # last printer fault, for the screens

    # -- catalog and cart ---------------------------------------------------------------

    def catalog(self, *, refresh: bool = False) -> CatalogOut:
        """The catalog, fetched when asked to refresh (or first used)."""
        if refresh or self._catalog is None:
            self._catalog = self.core.catalog()
        return self._catalog

    def quote(self, catalog: CatalogOut, lines: Sequence[OrderLineIn]) -> int:
        """The amount to charge; InvalidRequest if the cart is empty or unknown."""
        if not lines or any(line.quantity <= 0 for line in lines):
            raise InvalidRequest(400, "choose at least one ticket")
        amount = 0
        for line in lines:
            try:
                product, category = find_category(catalog, line.price_category_id)
            except KeyError:
                raise InvalidRequest(
                    400, f"unknown price category {line.price_category_id}"
                ) from None
            if sold_out(product):
                raise InvalidRequest(400, f"{product.name_en} is sold out")
            amount += unit_amount(category) * line.quantity
        problem = cart_problem(catalog, lines)
        if problem:
            raise InvalidRequest(400, problem)
        return amount

    def voucher_quote(self, lines: Sequence[OrderLineIn], code: str) -> VoucherQuoteOut:
        """The core's answer for a typed voucher code on this cart (discount, total);
        InvalidRequest or OrderConflict when it refuses the code."""
        return self.core.voucher_quote(list(lines), code)

    def hold_cart(self, lines: list[OrderLineIn]) -> str:
        """Keep a cart with holders in memory; returns the token the pages pass on."""
        token = secrets.token_urlsafe(12)
        self.held_carts[token] = lines
        return token

    def drop_held_carts(self) -> None:
        """Forget every held cart (and the photos in it): a new visitor starts."""
        self.held_carts.clear()

    @staticmethod
    def missing_consent(catalog: CatalogOut, answers: Mapping[str, bool]) -> list[str]:
        """Names of required checkout fields the visitor has not ticked."""
        return [f.name for f in catalog.checkout_fields if f.required and not answers.get(f.name)]

    # -- the sale -----------------------------------------------------------------------

    def sell(
        self,
        lines: Sequence[OrderLineIn],
        method: str,
        answers: Mapping[str, bool] | None = None,
        locale: str = "ja",
        voucher_code: str = "",
    ) -> SaleResult:
        """Run one sale end to end; see the module docstring for what each failure means."""
        with self._lock:
            return self.complete(self.prepare(lines, method, answers, locale, voucher_code))

    def prepare(
        self,
        lines: Sequence[OrderLineIn],
        method: str,
        answers: Mapping[str, bool] | None = None,
        locale: str = "ja",
        voucher_code: str = "",
    ) -> str:
        """Check the sale against a fresh catalog and journal it; returns the sale id.
        With a voucher code the core says what to charge (its rules, its count of uses)."""
        answers = dict(answers or {})
        with self._lock:
            # Refresh first: if the core is down we must not take the visitor's money.
            catalog = self.catalog(refresh=True)
            amount = self.quote(catalog, lines)
            if voucher_code:
                amount = self.voucher_quote(lines, voucher_code).total
            if catalog.payment_methods and method not in catalog.payment_methods:
                raise InvalidRequest(400, f"payment method {method} is not offered")
            missing = self.missing_consent(catalog, answers)
            if missing:
                raise InvalidRequest(400, f"consent required: {', '.join(missing)}")
            request = {
                "lines": [msgspec.to_builtins(line) for line in lines],
                "answers": answers,
                "method": method,
                "amount": amount,
                "locale": locale,
                "voucher_code": voucher_code,
            }
            sale_id = self.journal.start(request)
            self.jobs[sale_id] = SaleJob(sale_id)  # resume() keeps its hands off it
            return sale_id

    def complete(self, sale_id: str) -> SaleResult:
        """Carry a journalled sale on to printed: charge, confirm, print, as far as needed.

        Each step runs only from its own state, so calling this again for the same sale
        (a retry, or after a restart) takes no step twice: a printed sale is returned as
        it is, with no charge, no core call and no paper. A sale that ended without
        tickets (failed, voided, void_failed) raises JournalStateError.
        """
        with self._lock:
            try:
                record = self._record(sale_id)
                replayed = False
                if record.state == SaleState.STARTED:
                    record = self._charge(record)
                if record.state == SaleState.PAID:
                    reply = self._confirm(record)
                    record, replayed = self._record(sale_id), reply.replayed
                if record.state == SaleState.CONFIRMED:
                    return self._print(sale_id, self.confirmation(sale_id), replayed=replayed)
                if record.state == SaleState.PRINTED:
                    return SaleResult(sale_id, self.confirmation(sale_id), printed=True)
                raise JournalStateError(f"sale {sale_id} ended {record.state}: {record.error}")
            finally:
                job = self.jobs.get(sale_id)
                if job is not None:
                    job.done = True

    def start_sale(
        self,
        lines: Sequence[OrderLineIn],
        method: str,
        answers: Mapping[str, bool] | None = None,
        locale: str = "ja",
        voucher_code: str = "",
    ) -> str:
        """Prepare a sale and finish it on a worker thread, so the UI can show a waiting
        page with a Cancel button instead of a request that hangs on the terminal."""
        self._refuse_if_busy()
        return self._run(self.prepare(lines, method, answers, locale, voucher_code))

    # -- paying a time stay (精算), journalled and completed like a sale -----------------

    def stay_charge(self, token: str) -> StayChargeOut:
        """What the stay of a scanned (or typed) ticket QR owes now."""
        return self.core.stay_charge(token)

    def prepare_stay(self, token: str, method: str, period_total: int, locale: str = "ja") -> str:
        """Quote the stay afresh and journal its payment; returns the sale id.

        ``period_total`` is the quote the visitor saw: if time crossed a unit since, this
        raises OrderConflict (nothing charged) so the screen shows the new amount first.
        Nothing owed is an OrderConflict too: there is nothing to take.
        """
        with self._lock:
            catalog = self.catalog(refresh=True)
            if catalog.payment_methods and method not in catalog.payment_methods:
                raise InvalidRequest(400, f"payment method {method} is not offered")
            charge = self.stay_charge(token)
            if charge.due <= 0:
                raise OrderConflict(409, "nothing_due")
            if charge.period_total != period_total:
                raise OrderConflict(409, "charge_changed")
            sale_id = self.journal.start(stay_request(charge, token, method, locale))
            self.jobs[sale_id] = SaleJob(sale_id)
            return sale_id

    def start_stay_payment(
        self, token: str, method: str, period_total: int, locale: str = "ja"
    ) -> str:
        """Journal a stay payment and take it on a worker thread (see :meth:`start_sale`)."""
        self._refuse_if_busy()
        return self._run(self.prepare_stay(token, method, period_total, locale))

    def _refuse_if_busy(self) -> None:
        if any(not job.done for job in self.jobs.values()):
            raise OutOfService("another sale is in progress")

    def _run(self, sale_id: str) -> str:
        """Complete a prepared sale on a worker thread; its job tells the waiting page."""
        job = self.jobs[sale_id]

        def run() -> None:
            try:
                job.result = self.complete(sale_id)
            except BaseException as exc:  # the waiting page shows it; nothing is lost
                job.error = exc
                if not isinstance(exc, KioskError):
                    log.exception("sale %s crashed", sale_id)
            finally:
                job.done = True

        threading.Thread(target=run, name=f"sale-{sale_id[:8]}", daemon=True).start()
        return sale_id

    def _record(self, sale_id: str) -> SaleRecord:
        record = self.journal.get(sale_id)
        if record is None:
            raise JournalStateError(f"no sale {sale_id}")
        return record

    # -- one step per state: started → paid → confirmed → printed ---------------------------

    def _charge(self, record: SaleRecord) -> SaleRecord:
        """started → paid (or failed): take the money at the terminal.

        The terminal is idempotent per sale id, so a charge repeated after a crash finds
        the first approval rather than taking the money again.
        """
        request = record.request
        try:
            payment = self.terminal.charge(request["amount"], request["method"], record.id)
        except PaymentFailed as exc:
            self.journal.failed(record.id, f"{type(exc).__name__}: {exc}")
            raise
        self.journal.paid(record.id, payment.reference)
        return self._record(record.id)

    def _confirm(self, record: SaleRecord) -> OrderReply:
        """paid → confirmed (or voided / void_failed): the core creates the order.

        Retried with the same Idempotency-Key, so the core answers a repeat with the order
        an earlier attempt created; a refusal voids the payment at the terminal.
        """
        if record.state != SaleState.PAID or not record.payment_ref:
            raise JournalStateError(f"sale {record.id} is {record.state}, not paid")
        request = record.request
        payment = KioskPaymentIn(
            method=request["method"], reference=record.payment_ref, amount=request["amount"]
        )
        for attempt in range(self.confirm_attempts):
            try:
                reply = self._send(record, payment)
            except CoreUnavailable as exc:
                log.warning("confirm %s attempt %d failed: %s", record.id, attempt + 1, exc)
                if attempt + 1 < self.confirm_attempts:
                    self._sleep(self.retry_delay * 2**attempt)
                continue
            except CoreRefused as exc:
                self._void(record, exc)
                raise
            self.journal.confirmed(record.id, reply.answer)
            return reply
        raise ConfirmationPending(record.id, "paid; the core could not be reached to confirm")

    def _send(self, record: SaleRecord, payment: KioskPaymentIn) -> OrderReply:
        """Ask the core to create the order of a paid sale, or the charge of a paid stay
        (whose idempotency key is its quoted period, not the sale id)."""
        request = record.request
        if is_stay(request):
            return self.core.pay_stay(stay_order(request, payment))
        order = KioskOrderIn(
            lines=[msgspec.convert(line, OrderLineIn) for line in request["lines"]],
            payment=payment,
            answers=request.get("answers", {}),
            locale=request.get("locale", "ja"),
            voucher_code=request.get("voucher_code", ""),
        )
        return self.core.create_order(order, idempotency_key=record.id)

    def _void(self, record: SaleRecord, cause: CoreRefused) -> None:
        """paid → voided, or void_failed when the terminal cannot reverse the payment."""
        assert record.payment_ref is not None  # only a paid sale is voided
        try:
            self.terminal.void(record.payment_ref, record.request.get("amount"))
        except PaymentFailed as exc:
            # Money taken, no ticket, void failed: staff must refund by hand.
            log.error("void of %s (%s) failed: %s", record.id, record.payment_ref, exc)
            self.journal.void_failed(record.id, f"{cause.detail}; void failed: {exc}")
            return
        self.journal.voided(record.id, cause.detail)

    def _print(
        self, sale_id: str, confirmation: KioskOrderOut, *, replayed: bool = False
    ) -> SaleResult:
        """confirmed → printed: the tickets not yet printed, one by one, each copy
        journalled first (a printer fault leaves the sale confirmed for the next try)."""
        record = self._record(sale_id)
        if record.state == SaleState.PRINTED:  # printed meanwhile: no second copy
            return SaleResult(sale_id, confirmation, printed=True, replayed=replayed)
        if record.state != SaleState.CONFIRMED:
            raise JournalStateError(f"sale {sale_id} is {record.state}, not confirmed")
        locale = record.request.get("locale", "ja")
        done = self.journal.tickets_done(sale_id)
        try:
            with self._printer_lock:
                if is_stay(record.request):
                    self._print_stay_receipt(record, confirmation)
                for ticket in confirmation.tickets:
                    if str(ticket.id) in done:
                        continue
                    # Ask first where the printer can answer: a fault known before the
                    # first byte leaves the ticket clean (no reprint mark needed later).
                    fault = printer_fault(self.printer)
                    if fault:
                        raise PrinterFault(fault)
                    reprint = self.journal.ticket_print_started(sale_id, str(ticket.id))
                    print_ticket(
                        self.printer, self.profile, ticket, confirmation, locale, reprint=reprint
                    )
                    self.journal.ticket_print_done(sale_id, str(ticket.id))
        except PrinterFault as exc:
            log.error("printing %s failed: %s", sale_id, exc)
            self.print_problem = str(exc)
            self.printer_fault_seen(str(exc))
            return SaleResult(
                sale_id, confirmation, printed=False, print_error=str(exc), replayed=replayed
            )
        self.print_problem = None
        self.journal.printed(sale_id)
        return SaleResult(sale_id, confirmation, printed=True, replayed=replayed)

    def _print_stay_receipt(self, record: SaleRecord, confirmation: KioskOrderOut) -> None:
        """A paid stay's paper is its receipt (a charge has no tickets); printed once,
        under the caller's printer lock. Journalled after the job: a crash in between
        prints it again rather than never."""
        if record.receipt_printed_at:
            return
        fault = printer_fault(self.printer)
        if fault:
            raise PrinterFault(fault)
        print_receipt(self.printer, self.profile, confirmation, record.request.get("locale", "ja"))
        self.journal.receipt_printed(record.id)

    # -- staff and receipts -------------------------------------------------------------

    def reprint(self, sale_id: str) -> None:
        """Staff: print every ticket of a sale again, each marked 再発行 / REPRINT."""
        with self._lock:
            confirmation = self.confirmation(sale_id)
            record = self._record(sale_id)
            locale = record.request.get("locale", "ja")
            with self._printer_lock:
                fault = printer_fault(self.printer)
                if fault:
                    raise PrinterFault(fault)
                for ticket in confirmation.tickets:
                    self.journal.ticket_print_started(sale_id, str(ticket.id))
                    print_ticket(
                        self.printer, self.profile, ticket, confirmation, locale, reprint=True
                    )
                    self.journal.ticket_print_done(sale_id, str(ticket.id))
            if record.state == SaleState.CONFIRMED:
                self.journal.printed(sale_id)

    def confirmation(self, sale_id: str) -> KioskOrderOut:
        """The core's stored confirmation of a sale (KioskError if it was never confirmed);
        rows journalled by older drivers load too."""
        record = self.journal.get(sale_id)
        if record is None or record.confirmation is None:
            raise KioskError(f"sale {sale_id} has no confirmed order")
        return decode_confirmation(record.confirmation, record.created_at)

    def print_receipt(self, sale_id: str) -> None:
        """Print the receipt once per sale (a second receipt needs staff)."""
        with self._lock:
            record = self.journal.get(sale_id)
            if record is None or record.state not in (SaleState.CONFIRMED, SaleState.PRINTED):
                raise KioskError(f"sale {sale_id} is not confirmed")
            if record.receipt_printed_at:
                raise KioskError("the receipt for this sale was already printed")
            with self._printer_lock:
                print_receipt(
                    self.printer,
                    self.profile,
                    self.confirmation(sale_id),
                    record.request.get("locale", "ja"),
                )
            self.journal.receipt_printed(sale_id)

    def cancel_payment(self) -> None:
        """The visitor pressed Cancel while the terminal waits for a card."""
        self.terminal.cancel()

    # -- recovery and health --------------------------------------------------------------

    def resume(self, *, print_pending: bool = True) -> ResumeReport:
        """Finish every sale a crash interrupted; safe to call repeatedly.

        Call it with ``print_pending=False`` while the kiosk is in use: confirming a paid
        sale in the background is fine, but printing an earlier visitor's tickets into the
        hands of the visitor now at the screen is not.
        """
        report = ResumeReport()
        with self._lock:
            active = {key for key, job in self.jobs.items() if not job.done}
            for record in self.journal.in_state(SaleState.STARTED):
                if record.id in active:
                    continue
                # Not charge(): that would ask a visitor who may have left to pay again.
                try:
                    payment = self.terminal.find(record.id)
                except PaymentFailed:
                    report.pending.append(record.id)
                    continue
                if payment is None:
                    self.journal.failed(record.id, "interrupted before payment")
                    report.abandoned.append(record.id)
                else:
                    self.journal.paid(record.id, payment.reference)
            for record in self.journal.in_state(SaleState.PAID):
                try:
                    self._confirm(record)
                except ConfirmationPending:
                    report.pending.append(record.id)
                    continue
                except CoreRefused:
                    report.voided.append(record.id)
                    continue
                report.confirmed.append(record.id)
                if not print_pending:
                    report.pending.append(record.id)
            for record in self.journal.in_state(SaleState.CONFIRMED) if print_pending else []:
                result = self._print(record.id, self.confirmation(record.id))
                (report.printed if result.printed else report.pending).append(record.id)
        return report

    def heartbeat(self) -> bool:
        """Send health to the core; True if it was accepted (errors are logged, not raised)."""
        from kiosk_driver.health import send_heartbeat

        return send_heartbeat(self)

    def printer_fault_seen(self, fault: str | None) -> None:
        """Call staff by themselves when the printer faults (paper out, cover open,
        offline): once per fault, not on every retry; a cleared fault re-arms it."""
        if fault is None or fault == self.printer_call:
            self.printer_call = fault
            return
        self.printer_call = fault
        self.call_staff("printer", fault)

    def call_staff(self, reason: str = "visitor", detail: str = "") -> bool:
        """Flag the kiosk and tell the core; retried by the background loop if it fails."""
        self.staff_called = True
        self.last_call = (reason, detail)
        try:
            self.core.call_staff(reason, detail)
        except KioskError as exc:
            log.warning("staff call not delivered yet: %s", exc)
            self.staff_call_pending = True
            return False
        self.staff_call_pending = False
        return True
