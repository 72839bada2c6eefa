"""Kiosk health: why it is out of service, heartbeats, and the background recovery tick.

A kiosk stops selling while any earlier sale is unfinished (paid but unconfirmed, or
confirmed but unprinted) or the printer reports a fault: the next visitor must not pay
while the last one's tickets are still owed, and tickets printed by the background loop
must go to the visitor who is waiting for them, not to a stranger mid-purchase.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kiosk_driver.errors import KioskError
from kiosk_driver.printing import printer_fault, printer_health
from kiosk_driver.sale_state import OPEN_STATES, SaleState
from kippu_contract.v1.kiosk import KioskHeartbeatIn

if TYPE_CHECKING:
    from kiosk_driver.sale import Kiosk

log = logging.getLogger(__name__)

#: Reasons :func:`blocked_reason` returns; the UI has a Japanese and English text for each.
REASONS = ("paper_out", "cover_open", "offline", "unprinted", "unconfirmed", "terminal")


def blocked_reason(kiosk: Kiosk) -> str | None:
    """Why the kiosk must not start a sale now (one of :data:`REASONS`), or None."""
    with kiosk._printer_lock:
        fault = printer_fault(kiosk.printer)
    if fault:
        return fault
    active = {key for key, job in kiosk.jobs.items() if not job.done}
    if any(r.id not in active for r in kiosk.journal.in_state(SaleState.CONFIRMED)):
        return "unprinted"
    if any(r.id not in active for r in kiosk.journal.in_state(SaleState.STARTED, SaleState.PAID)):
        return "unconfirmed"
    if kiosk.terminal.status() != "ok":
        return "terminal"
    return None


def send_heartbeat(kiosk: Kiosk) -> bool:
    """Report health to the core; True if it was accepted (failures are logged)."""
    with kiosk._printer_lock:
        printer, paper = printer_health(kiosk.printer)
    beat = KioskHeartbeatIn(
        printer=printer,
        paper=paper,
        terminal=kiosk.terminal.status(),
        last_sale_at=kiosk.journal.last_sale_at(),
        version=_version(),
        out_of_service=blocked_reason(kiosk),
        unconfirmed=len(kiosk.journal.in_state(SaleState.STARTED, SaleState.PAID)),
        unprinted=len(kiosk.journal.in_state(SaleState.CONFIRMED)),
        void_failed=len(kiosk.journal.in_state(SaleState.VOID_FAILED)),
    )
    try:
        kiosk.core.heartbeat(beat)
    except KioskError as exc:
        log.warning("heartbeat failed: %s", exc)
        return False
    return True


def _version() -> str:
    from kiosk_driver.sale import VERSION

    return VERSION


def tick(kiosk: Kiosk) -> None:
    """One pass of the background loop: call staff for a printer fault, finish
    interrupted sales and deliver staff calls.

    Printing here is safe because the kiosk sells nothing while a sale is unprinted
    (see the module docstring); a printer fault just leaves the sale for the next tick.
    """
    if any(not job.done for job in kiosk.jobs.values()):
        return  # a visitor's sale is running; its own worker finishes it
    with kiosk._printer_lock:
        fault = printer_fault(kiosk.printer)
    # Paper out or a jam needs hands: call staff without waiting for a visitor to.
    kiosk.printer_fault_seen(fault)
    if kiosk.journal.in_state(*OPEN_STATES):
        try:
            report = kiosk.resume()
            if report.printed or report.confirmed or report.voided:
                log.info("background resume: %s", report)
        except KioskError as exc:
            log.warning("background resume: %s", exc)
    if kiosk.staff_call_pending:
        kiosk.call_staff(*kiosk.last_call)
