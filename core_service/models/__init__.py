"""SQLAlchemy 2 typed models of the core's OLTP database.

Importing this package registers every table on ``Base.metadata`` (Alembic's target).
"""

from core_service.models.aftersales import Cancellation, Receipt, Refund, TicketTransfer
from core_service.models.base import Base, utcnow
from core_service.models.billing import FacilityPlan, SystemFeeStatement
from core_service.models.catalog import (
    Capacity,
    CapacityReservation,
    PriceCategory,
    Product,
)
from core_service.models.facilities import AuditLog, Device, Facility, FacilityPlugin, StaffUser
from core_service.models.gates import GateConflict, OfflineScan
from core_service.models.mailing import MailCampaign, MailRecipient
from core_service.models.operations import CheckIn, OutboxMessage, Payment, PaymentEvent
from core_service.models.sales import ConsentRecord, Customer, Order, OrderLine, Ticket
from core_service.models.security import LoginAttempt, PlatformOperator
from core_service.models.stays import StayCharge, StayVisit
from core_service.models.vouchers import Voucher
from core_service.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
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
    "FacilityPlan",
    "FacilityPlugin",
    "GateConflict",
    "LoginAttempt",
    "MailCampaign",
    "MailRecipient",
    "OfflineScan",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "PaymentEvent",
    "PlatformOperator",
    "PriceCategory",
    "Receipt",
    "Refund",
    "Product",
    "StaffUser",
    "StayCharge",
    "StayVisit",
    "SystemFeeStatement",
    "Ticket",
    "TicketTransfer",
    "Voucher",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "utcnow",
]
