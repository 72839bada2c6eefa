"""The staff API: login, order lookup, cancellation and refunds, facility settings, webhooks,
payment credentials, mailing, sales reports and devices. The workbench is its client.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from kippu_contract.v1.common import FacilityOut
from kippu_contract.v1.kiosk import StaffCallOut


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    facility: str
    email: str
    password: str


class StaffOut(msgspec.Struct):
    id: int
    email: str
    display_name: str
    role: str


class LoginOut(msgspec.Struct):
    token: str
    role: str
    staff: StaffOut
    facility: FacilityOut


class LookupLineOut(msgspec.Struct):
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    visit_date: dt.date | None
    quantity: int
    line_total: int


class LookupTicketOut(msgspec.Struct):
    id: int
    status: str
    valid_from: dt.date
    valid_until: dt.date
    uses_left: int


class LookupPaymentOut(msgspec.Struct):
    method: str
    state: str
    amount: int


class LookupOrderOut(msgspec.Struct):
    code: str
    channel: str
    status: str
    total: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    customer_email: str
    customer_name: str
    masked: bool
    lines: list[LookupLineOut]
    tickets: list[LookupTicketOut]
    payments: list[LookupPaymentOut]


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    #: Tickets to cancel; omitted or null: every cancellable ticket of the order.
    ticket_ids: list[int] | None = None
    reason: str = ""
    #: Manager only: cancel without the policy's fee (e.g. the park closed for weather).
    waive_fee: bool = False
    #: The refund the caller expects; refused unless it is exactly the policy's.
    refund_amount: int | None = None


class TicketQuoteOut(msgspec.Struct):
    ticket_id: int
    base: int
    handling_fee: int
    fee: int
    refund: int
    days_before: int


class QuoteOut(msgspec.Struct):
    order_code: str
    tickets: list[TicketQuoteOut]
    base_total: int
    fee: int
    handling_fee_kept: int
    refund_amount: int


class RefundOut(msgspec.Struct):
    id: int
    state: str
    amount: int
    provider: str
    provider_ref: str
    attempts: int
    last_error: str
    refunded_at: dt.datetime | None
    #: Filled in the refund list (``GET /api/v1/refunds``), where rows of many orders meet.
    order_code: str = ""
    #: When the refund last moved (its last attempt, for a failed one).
    updated_at: dt.datetime | None = None


class CancellationOut(msgspec.Struct):
    id: int
    order_code: str
    order_status: str
    ticket_ids: list[int]
    base_total: int
    fee: int
    handling_fee_kept: int
    refund_amount: int
    replayed: bool
    refund: RefundOut | None


class PluginOptionOut(msgspec.Struct):
    """One option a plugin declares: the settings page shows a widget for it.

    ``kind``: "text", "int", "number", "bool", "choice" (one of ``choices``) or "secret"
    (its value is never sent back: ``options`` holds "" for it; sending "" keeps it)."""

    name: str
    kind: str
    label_ja: str
    label_en: str
    default: Any = None
    choices: list[str] = []
    minimum: float | None = None
    maximum: float | None = None


class PluginSettingOut(msgspec.Struct):
    name: str
    enabled: bool
    options: dict[str, Any]
    #: The options the plugin declares, in its order (empty: it takes none).
    fields: list[PluginOptionOut] = []


class CancellationFeeTier(msgspec.Struct, forbid_unknown_fields=True):
    """A cancellation fee from ``days_before`` the visit date on (at or before it):
    ``percent`` of each ticket's base price plus ``fixed`` yen, never more than the base.

    The tier that applies is the one with the largest ``days_before`` the cancellation is
    still at or before; closer to the visit than every tier, the whole base price is the
    fee (so a policy usually ends with a ``days_before: 0`` tier)."""

    days_before: int
    percent: int = 0
    fixed: int = 0


class FacilitySettingsOut(msgspec.Struct):
    plugins: list[PluginSettingOut]
    payment_methods: dict[str, list[str]]
    available_methods: dict[str, list[str]]
    self_cancel: bool
    #: The qualified-invoice registration number printed on receipts; "" when none.
    tax_registration_number: str = ""
    #: The cancellation fee tiers, largest ``days_before`` first (empty: no fee until
    #: the visit date).
    cancellation_fees: list[CancellationFeeTier] = []
    #: Visitors may cancel on My Page until this many days before the visit.
    self_cancel_until_days: int = 1


class PluginSettingIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    enabled: bool
    options: dict[str, Any] = {}


class FacilitySettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    plugins: list[PluginSettingIn] | None = None
    payment_methods: dict[str, list[str]] | None = None
    self_cancel: bool | None = None
    #: T and 13 digits with a valid check digit; "" removes it (plain receipts).
    tax_registration_number: str | None = None
    #: Replaces every tier ([]: no fee until the visit date).
    cancellation_fees: list[CancellationFeeTier] | None = None
    self_cancel_until_days: int | None = None


class ProviderCredentialsOut(msgspec.Struct):
    provider: str
    #: Secret fields masked ("sk_live_…9f3a"); identifying fields (merchant id) in full.
    fields: dict[str, str]
    updated_at: str | None


class CredentialFieldOut(msgspec.Struct):
    """One credential a provider declares: the settings page shows an input for it.

    ``secret``: answered masked only; otherwise (a merchant id) in full."""

    name: str
    label_ja: str
    label_en: str
    secret: bool = True


class PaymentCredentialsOut(msgspec.Struct):
    #: Provider names of every installed provider plugin: what ``PUT`` accepts.
    providers: list[str]
    credentials: list[ProviderCredentialsOut]
    #: Per installed provider, the fields ``PUT`` accepts, in the provider's order; an
    #: empty list: the provider declares none and takes any field.
    declared_fields: dict[str, list[CredentialFieldOut]] = {}


class CompositionIn(msgspec.Struct, forbid_unknown_fields=True):
    subject_ja: str
    subject_en: str
    body_ja: str
    body_en: str
    kind: str = "marketing"


class MailingIn(msgspec.Struct, forbid_unknown_fields=True):
    composition: CompositionIn
    customer_keys: list[str]
    segment: dict[str, Any] = {}


class TestMailIn(msgspec.Struct, forbid_unknown_fields=True):
    composition: CompositionIn
    locale: str = "ja"


class TestMailOut(msgspec.Struct):
    to: str


class MailingOut(msgspec.Struct):
    id: int
    kind: str
    status: str
    subject_ja: str
    subject_en: str
    created_by: str
    created_at: dt.datetime
    recipients: int
    skipped: int
    queued: int
    sent: int
    failed: int


#: The payment method of a sale without a payment (a free order) in sales figures.
NO_PAYMENT_METHOD = "none"


class SalesRowOut(msgspec.Struct):
    day: dt.date
    channel: str
    method: str
    product_id: int
    quantity: int
    amount: int


class SalesReportOut(msgspec.Struct):
    date_from: dt.date
    date_to: dt.date
    timezone: str
    total_amount: int
    total_quantity: int
    rows: list[SalesRowOut]


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    name: str


class NewDeviceOut(msgspec.Struct):
    id: int
    kind: str
    name: str
    enrolment_code: str
    enrolment_expires_at: dt.datetime


class DeviceOut(msgspec.Struct):
    id: int
    kind: str
    name: str
    enrolled: bool
    revoked: bool
    last_seen_at: dt.datetime | None
    silent: bool
    status: dict[str, Any]
    open_call: StaffCallOut | None = None
    allowed_product_ids: list[int] = []


class AllowedProductsIn(msgspec.Struct, forbid_unknown_fields=True):
    product_ids: list[int]


class WebhookEndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    #: http:// or https:// only; the events are POSTed here.
    url: str
    #: Event types (``kippu_contract.webhooks.EVENT_TYPES``) this endpoint receives.
    events: list[str]
    active: bool = True
    description: str = ""


class WebhookEndpointChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    description: str | None = None


class WebhookEndpointOut(msgspec.Struct):
    id: int
    url: str
    events: list[str]
    active: bool
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookSecretOut(msgspec.Struct):
    """The endpoint with its signing secret: answered only at creation and rotation."""

    endpoint: WebhookEndpointOut
    secret: str


class WebhookDeliveryOut(msgspec.Struct):
    id: int
    event_id: str
    event_type: str
    event_created_at: dt.datetime
    endpoint_id: int
    endpoint_url: str
    #: ``kippu_contract.states.WebhookDeliveryState``.
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None


class WebhookDeliveryPageOut(msgspec.Struct):
    """Newest first; ask again with ``before=next_before`` for the next page."""

    deliveries: list[WebhookDeliveryOut]
    next_before: int | None


class StatementLineOut(msgspec.Struct):
    plan: str
    #: Yen per month before tax.
    monthly_fee: int
    days: int
    amount: int


class StatementOut(msgspec.Struct):
    """A monthly system-fee statement of the platform to the facility (F26)."""

    number: str
    month: str
    lines: list[StatementLineOut]
    subtotal: int
    tax_rate: int
    tax: int
    total: int
    issued_at: dt.datetime


class StaffMemberOut(msgspec.Struct):
    """A staff account of the facility, as its owner and managers see it."""

    id: int
    email: str
    display_name: str
    role: str
    active: bool
    created_at: dt.datetime


class StaffMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    role: str
    display_name: str = ""
    #: Omitted: the core makes a one-time password, answered once.
    password: str | None = None


class StaffMemberChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    role: str | None = None
    display_name: str | None = None
    active: bool | None = None


class StaffPasswordOut(msgspec.Struct):
    """A new staff account or a password reset: the one-time password is shown once."""

    member: StaffMemberOut
    #: "" when the caller chose the password.
    one_time_password: str = ""


class AuditEntryOut(msgspec.Struct):
    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


class AuditPageOut(msgspec.Struct):
    """Newest first; ``next_before`` is the ``before`` of the next (older) page, or None."""

    entries: list[AuditEntryOut]
    next_before: int | None = None
