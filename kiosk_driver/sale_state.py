"""The states of a kiosk sale and the transitions between them.

A sale only moves forward, one transition at a time::

    started ──▶ paid ──▶ confirmed ──▶ printed
       │          ├──▶ voided         the core refused; the payment was reversed
       ▼          └──▶ void_failed    the core refused and the reversal failed
     failed         the terminal took no money

:data:`TRANSITIONS` is the whole table; :class:`~kiosk_driver.journal.Journal` has one
method per transition, named like it, and each asks :func:`check` before it writes.
A transition asked for again once the sale is where it leads (a retried call, a replay
after a restart) is a no-op, so nothing is charged, confirmed or printed twice; asked
for from any other state it is a :class:`~kiosk_driver.errors.JournalStateError`.

The values are what the journal stores on disk; they must never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kiosk_driver.errors import JournalStateError


class SaleState(StrEnum):
    """Where a kiosk sale is. The values are the journal's on-disk ``sales.state``."""

    #: Journalled before any money moves; the terminal is asked to charge.
    STARTED = "started"
    #: The terminal approved the payment; the core has not confirmed the order yet.
    PAID = "paid"
    #: The core created the order and its tickets; not every ticket is on paper yet.
    CONFIRMED = "confirmed"
    #: Every ticket is printed. Final.
    PRINTED = "printed"
    #: The terminal took no money (declined, timed out, cancelled, or nothing found after
    #: a crash). Final: nothing to undo.
    FAILED = "failed"
    #: The core refused the paid sale and the payment was reversed at the terminal. Final.
    VOIDED = "voided"
    #: The core refused the paid sale and the reversal failed: staff refund by hand. Final.
    VOID_FAILED = "void_failed"


#: States :meth:`kiosk_driver.sale.Kiosk.resume` must carry on from.
OPEN_STATES: tuple[SaleState, ...] = (SaleState.STARTED, SaleState.PAID, SaleState.CONFIRMED)
#: States nothing follows.
FINAL_STATES: tuple[SaleState, ...] = (
    SaleState.PRINTED,
    SaleState.FAILED,
    SaleState.VOIDED,
    SaleState.VOID_FAILED,
)


@dataclass(frozen=True)
class Transition:
    """One step of a sale: from ``source`` to ``target``; ``name`` is the journal method."""

    name: str
    source: SaleState
    target: SaleState


#: Every transition of a kiosk sale (a new sale starts in STARTED: ``Journal.start``).
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("paid", SaleState.STARTED, SaleState.PAID),
        Transition("failed", SaleState.STARTED, SaleState.FAILED),
        Transition("confirmed", SaleState.PAID, SaleState.CONFIRMED),
        Transition("voided", SaleState.PAID, SaleState.VOIDED),
        Transition("void_failed", SaleState.PAID, SaleState.VOID_FAILED),
        Transition("printed", SaleState.CONFIRMED, SaleState.PRINTED),
    )
}


def check(transition: Transition, current: SaleState, sale_id: str = "") -> bool:
    """Whether ``transition`` must be written for a sale in ``current``.

    True from the transition's source; False when the sale is already at its target (the
    same step again: a no-op); JournalStateError from any other state.
    """
    if current == transition.source:
        return True
    if current == transition.target:
        return False
    raise JournalStateError(
        f"sale {sale_id} is {current}: {transition.name} needs {transition.source}"
    )


def failure(error: str | None) -> str:
    """Why a ``failed`` sale took no money, from its journalled error: ``declined`` (the
    card or wallet refused), ``cancelled`` (the visitor pressed Cancel) or ``failed``
    (timed out, terminal offline, interrupted). The visitor is told which, because
    "declined" sends them to another card and "cancelled" does not."""
    kind = (error or "").partition(":")[0]
    return {"PaymentDeclined": "declined", "PaymentCancelled": "cancelled"}.get(kind, "failed")
