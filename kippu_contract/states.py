"""The states of orders, tickets, payments, refunds, handed-on tickets and webhook
deliveries.

The core stores these values; the kiosk reads an order's status, the workbench and the
notebooks filter the exports by them. Which move between them is allowed is the core's
business (``core_service/*/states.py``, described in ``docs/states.md``); this module
only names them, so that every part spells them the same way. The values are the
strings stored in the database and written to the exports: never change one.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """``Order.status``."""

    #: Placed, places held, not paid yet (web checkout).
    PENDING = "pending"
    #: Paid: tickets issued, places sold.
    PAID = "paid"
    #: Every ticket cancelled after payment.
    CANCELLED = "cancelled"
    #: Not paid in time: the held places were given back.
    EXPIRED = "expired"


class TicketStatus(StrEnum):
    """``Ticket.status``."""

    #: Admits (uses left, or a pass).
    VALID = "valid"
    #: No uses left.
    USED = "used"
    #: Cancelled: refused at the gate.
    CANCELLED = "cancelled"


class PaymentState(StrEnum):
    """``Payment.state`` (and ``PaymentEvent.from_state`` / ``to_state``)."""

    #: Only as ``PaymentEvent.from_state`` of a payment's first event: before it existed.
    CREATED = "created"
    #: Started with the provider, no outcome yet.
    PENDING = "pending"
    #: The money arrived and paid the payment's order.
    PAID = "paid"
    #: Declined, cancelled or given up; no money expected.
    FAILED = "failed"
    #: Reserved; no transition of the core leads here.
    CANCELLED = "cancelled"
    #: The money arrived but paid nothing (the hold had expired and the places were
    #: sold, the order was paid by another attempt, or the attempt had been given up):
    #: it is owed back to the payer.
    REFUND_DUE = "refund_due"
    #: A refund of a ``refund_due`` payment is being sent to the provider.
    REFUNDING = "refunding"
    #: A ``refund_due`` payment's money went back in full. Refunds of cancelled tickets
    #: are ``Refund`` rows; their payment stays ``paid``.
    REFUNDED = "refunded"


class RefundState(StrEnum):
    """``Refund.state``: money going back for one cancellation."""

    #: Recorded, not sent to the provider yet.
    PENDING = "pending"
    #: One request is calling the provider.
    SENDING = "sending"
    #: The provider accepted and settles later.
    PROCESSING = "processing"
    #: Done.
    REFUNDED = "refunded"
    #: The provider refused or could not be reached: to be retried with the same key.
    FAILED = "failed"
    #: A kiosk terminal payment: to be paid back in person.
    OWED = "owed"
    #: Staff handed the money back.
    PAID_OUT = "paid_out"


class TransferState(StrEnum):
    """``TicketTransfer.state``: a ticket the buyer hands on to a companion."""

    #: A claim link exists.
    OFFERED = "offered"
    #: The companion claimed it: the ticket is theirs.
    CLAIMED = "claimed"


class WebhookDeliveryState(StrEnum):
    """``WebhookDelivery.status``: one event on its way to one endpoint."""

    #: Waiting for its turn (``next_attempt_at``), first try or a retry after a failure.
    PENDING = "pending"
    #: One worker is sending it; the claim lapses at ``lease_until`` (a killed worker).
    SENDING = "sending"
    #: The endpoint answered 2xx.
    DELIVERED = "delivered"
    #: Every attempt failed: given up.
    FAILED = "failed"
