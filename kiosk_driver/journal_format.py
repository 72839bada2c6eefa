"""How the journal keeps the core's confirmation of a sale, and reads older rows.

A confirmed sale's ``sales.confirmation`` column holds the core's answer, the contract's
:class:`~kippu_contract.v1.kiosk.KioskOrderOut`, as JSON. The kiosk prints from it, on
resume too, so it must load whatever driver version wrote it:

- rows written since the driver decodes with the contract hold the whole answer;
- rows written by driver 0.2.0 and before hold only the fields that driver's own copy of
  the shapes knew (its decoding dropped the others). They are told apart by the missing
  ``order.created_at`` and filled in with what the core sent a kiosk sale at the time:
  channel ``kiosk``, created when paid, no handling fee or visit date on the lines, and
  fresh tickets (status ``valid``, every use left). None of these is printed; they only
  let the row decode.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kippu_contract.v1.kiosk import KioskOrderOut


def encode_confirmation(answer: KioskOrderOut) -> dict[str, Any]:
    """The answer as JSON-ready builtins, for the journal's ``confirmation`` column."""
    result: dict[str, Any] = msgspec.to_builtins(answer)
    return result


def decode_confirmation(stored: dict[str, Any], journalled_at: str) -> KioskOrderOut:
    """The answer from the journal's ``confirmation`` column, from any driver version.

    ``journalled_at`` (the row's ``created_at``) stands in for the order's creation time
    in a row that has neither it nor ``paid_at``.
    """
    if "created_at" not in stored.get("order", {}):
        stored = _from_driver_0_2(stored, journalled_at)
    return msgspec.convert(stored, KioskOrderOut)


def _from_driver_0_2(stored: dict[str, Any], journalled_at: str) -> dict[str, Any]:
    order = dict(stored["order"])
    order.setdefault("channel", "kiosk")
    order["created_at"] = order.get("paid_at") or journalled_at
    order["lines"] = [
        {"handling_fee": 0, "visit_date": None, **line} for line in order.get("lines", [])
    ]
    tickets = [
        {"status": "valid", "uses_left": ticket.get("uses_total", 1), **ticket}
        for ticket in stored.get("tickets", [])
    ]
    return {**stored, "order": order, "tickets": tickets}
