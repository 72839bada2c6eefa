"""SQLAlchemy 2 typed models of the core's OLTP database.

Importing this package registers every table on ``Base.metadata`` (Alembic's target).
"""

from .aftersales import Cancellation, Receipt, Refund, TicketTransfer
from .base import Base, utcnow
from .catalog import (
    ADMISSION_KINDS,
    PRODUCT_KINDS,
    Capacity,
    CapacityReservation,
    PriceCategory,
    Product,
)
from .facilities import AuditLog, Device, Facility, FacilityPlugin, StaffUser
from .mailing import MailCampaign, MailRecipient
from .operations import CheckIn, OutboxMessage, Payment, PaymentEvent
from .sales import ConsentRecord, Customer, Order, OrderLine, Ticket

__all__ = [
    "ADMISSION_KINDS",
    "PRODUCT_KINDS",
    "AuditLog",
    "Base",
    "Cancellation",
    "Capacity",
    "CapacityReservation",
    "CheckIn",
    "ConsentRecord",
    "Customer",
    "Device",
    "Facility",
    "FacilityPlugin",
    "MailCampaign",
    "MailRecipient",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "PaymentEvent",
    "PriceCategory",
    "Receipt",
    "Refund",
    "Product",
    "StaffUser",
    "Ticket",
    "TicketTransfer",
    "utcnow",
]
