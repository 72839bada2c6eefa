"""The ``data`` of each webhook event type: ids, codes and amounts, never personal data
(no names, e-mail addresses, birth dates or pass holders). docs/webhooks.md tables the
same fields; ``tests/core/webhooks`` checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core_service.models import Cancellation, Order, Product, Ticket

CURRENCY = "JPY"


def order_paid(order: Order, tickets: Sequence[Ticket]) -> dict[str, Any]:
    return {
        "order_code": order.code,
        "channel": order.channel,
        "total": order.total,
        "currency": CURRENCY,
        "ticket_ids": [t.id for t in tickets],
    }


def order_cancelled(order: Order, cancellation: Cancellation) -> dict[str, Any]:
    """The order's last tickets were cancelled (the cancellation that did it)."""
    return {
        "order_code": order.code,
        "total": order.total,
        "currency": CURRENCY,
        "ticket_ids": [int(i) for i in cancellation.ticket_ids],
        "refund_amount": cancellation.refund_amount,
    }


def order_refunded(
    order_code: str,
    *,
    amount: int,
    reason: str,
    state: str,
    refund_id: int | None = None,
    payment_id: int | None = None,
) -> dict[str, Any]:
    """Money went back: ``reason`` "cancellation" (a ``Refund`` of cancelled tickets,
    ``refund_id``) or "refund_due" (a payment that paid nothing, ``payment_id``)."""
    return {
        "order_code": order_code,
        "amount": amount,
        "currency": CURRENCY,
        "reason": reason,
        "state": state,
        "refund_id": refund_id,
        "payment_id": payment_id,
    }


def ticket_redeemed(
    ticket: Ticket, product: Product | None, order_code: str, direction: str, gate_id: int | None
) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "order_code": order_code,
        "product_code": product.code if product is not None else "",
        "direction": direction,
        "uses_left": ticket.uses_left,
        "gate_id": gate_id,
    }


def pass_issued(order: Order, ticket: Ticket, product: Product) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "order_code": order.code,
        "product_code": product.code,
        "valid_from": ticket.valid_from.isoformat(),
        "valid_until": ticket.valid_until.isoformat(),
        "validity_start": product.validity_start,
    }
