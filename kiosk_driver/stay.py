"""Paying a time stay at the kiosk (精算): what a stay payment journals, and what it sends.

A stay payment is a kiosk sale like any other to the journal, the terminal and
:meth:`kiosk_driver.sale.Kiosk.resume` (started → paid → confirmed → printed), so a crash
between the terminal and the core is recovered the same way. Only two steps differ,
and they ask :func:`is_stay`:

- confirm sends ``POST /api/v1/kiosk/stays/orders`` with the quoted ``period_total``
  (the core's idempotency key for a stay) instead of a cart; a refusal (409
  ``charge_changed`` when time crossed a unit, ``nothing_due``) voids the terminal
  payment like any refused sale, and the screen quotes the stay again;
- print puts the charge order's receipt (the stay line and its tax) on paper, since a
  charge issues no tickets.
"""

from __future__ import annotations

from typing import Any

from kippu_contract.v1.kiosk import KioskPaymentIn, StayChargeOut, StayOrderIn

#: ``request["kind"]`` of a journalled stay payment (a sale's request has no kind).
STAY = "stay"


def stay_request(charge: StayChargeOut, token: str, method: str, locale: str) -> dict[str, Any]:
    """The journalled request of a stay payment for a quote: what to charge and the
    period it pays for (the minutes and names are for the screens)."""
    return {
        "kind": STAY,
        "token": token,
        "period_total": charge.period_total,
        "minutes": charge.minutes,
        "product_name_ja": charge.product_name_ja,
        "product_name_en": charge.product_name_en,
        "method": method,
        "amount": charge.due,
        "locale": locale,
    }


def is_stay(request: dict[str, Any]) -> bool:
    """Whether a journalled request is a stay payment (rather than a sale)."""
    return request.get("kind") == STAY


def stay_order(request: dict[str, Any], payment: KioskPaymentIn) -> StayOrderIn:
    """The core's request confirming a journalled stay payment taken on the terminal."""
    return StayOrderIn(
        token=request["token"],
        period_total=request["period_total"],
        payment=payment,
        locale=request.get("locale", "ja"),
    )
