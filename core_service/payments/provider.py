"""The payment provider interface that plugins implement.

A provider is a class returned by the ``register_payment_providers`` hook. The core
creates one instance per use with the facility and its credentials, asks it to
``start`` a payment, and learns the outcome either at once (``NextAction.kind ==
"paid"``), after a redirect back, or from a notification.

The lifecycle (``docs/payments.md``): ``start`` → the visitor does what
:class:`NextAction` says → the provider notifies us (``handle_notification`` returns a
verified :class:`ProviderEvent`) or we ask (``query_status``) → ``capture`` where the
method authorises first → ``refund`` (an amount the caller decided) or ``cancel``.
Only ``method_label`` and ``start`` are abstract: every later step has a default, so a
provider that settles at once (the demo) implements nothing more.

Exceptions a caller may catch::

    KippuError
    ├── ProviderUnavailable      timeout / 5xx after retries; safe to retry the same call
    ├── PaymentDeclined          the provider said no (card declined, ...)
    ├── ProviderRejected         the provider refused our request (4xx); a bug or a setup issue
    └── OperationNotSupported    this provider cannot do that (e.g. refund a konbini payment)
    NotificationRejected         a notification that failed verification: answer 400, change nothing
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx

from core_service.platform.errors import KippuError
from core_service.plugins.values import FacilityContext


@dataclass(frozen=True, slots=True)
class PaymentStart:
    """Everything a provider needs to start collecting money for an order."""

    payment_id: int
    order_code: str
    amount: int
    method: str
    locale: str
    #: Where the visitor comes back to after an off-site step.
    return_url: str
    #: Secret that authorises a visitor-facing step for this payment.
    access_key: str
    customer_email: str = ""
    #: Needed by some methods (Stripe konbini asks for a billing name); may be empty.
    customer_name: str = ""


@dataclass(frozen=True, slots=True)
class NextAction:
    """What happens next for the visitor.

    ``kind`` is one of :data:`NEXT_ACTION_KINDS`: "redirect" the visitor to ``url``;
    "qr" show ``url`` as a QR code (and as a link on a phone); "konbini" show the payment
    slip in ``data`` (store numbers, deadline, voucher ``url``); "client_confirm" run
    the provider's browser SDK with ``data`` (Stripe.js with a client secret, Paidy
    checkout); "wait" for a terminal or a notification; "paid" already settled.
    """

    kind: str
    url: str = ""
    provider_ref: str = ""
    data: dict[str, Any] = field(default_factory=dict)


NEXT_ACTION_KINDS = ("redirect", "qr", "konbini", "client_confirm", "wait", "paid")

#: States a :class:`ProviderEvent` can report.
#: "paid": money is ours; "authorized": approved, to be captured; "pending": nothing
#: final yet (also a failed attempt the visitor may retry within the same payment);
#: "failed": final, no money moved; "refunded": money went back.
EVENT_STATES = ("paid", "authorized", "pending", "failed", "refunded")


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified statement of a payment's state at the provider.

    Only a provider builds one, and only from data it authenticated (a valid signature,
    or a fresh answer of the provider's own API), so the core may act on it.
    """

    #: The provider's reference, as stored in ``Payment.provider_ref``.
    provider_ref: str
    state: str
    #: Amount the provider reports in yen (received for "paid", authorised otherwise).
    amount: int
    #: Our payment id as the provider echoes it back (metadata, merchant id), when the
    #: provider reference was not known at start (Paidy); "" otherwise.
    merchant_ref: str = ""
    #: The provider's event id, for logs.
    event_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundResult:
    """What the provider says about a refund: "refunded" at once or "pending"."""

    refund_ref: str
    amount: int
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One credential a provider reads from its facility's keys: the workbench shows an
    input for it, and the core refuses a field the provider does not declare.

    ``secret``: shown masked only ("sk_live_…9f3a"); otherwise it identifies rather than
    authenticates (a merchant id, a publishable key) and is shown in full.
    """

    name: str
    label_ja: str
    label_en: str
    secret: bool = True


class NotificationRejected(Exception):
    """A notification that did not verify (bad signature, stale, unknown payment)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(KippuError):
    """The provider timed out or failed (5xx) even after retries with the same key."""

    status_code = 503
    code = "payment_provider_unavailable"

    def __init__(
        self,
        message_en: str = "The payment service is not responding. You have not been charged"
        " twice; please try again in a moment.",
        message_ja: str | None = "決済サービスが応答していません。二重に請求されることは"
        "ありませんので、しばらくしてからもう一度お試しください。",
        **extra: Any,
    ) -> None:
        super().__init__(message_en, message_ja, **extra)


class PaymentDeclined(KippuError):
    """The provider declined the payment (e.g. ``card_declined``); the visitor may retry."""

    status_code = 402
    code = "payment_declined"

    def __init__(
        self,
        message_en: str = "The payment was declined. Please use another card or method.",
        message_ja: str | None = "お支払いが承認されませんでした。別のカードまたは"
        "お支払い方法をお試しください。",
        **extra: Any,
    ) -> None:
        super().__init__(message_en, message_ja, **extra)


class ProviderRejected(KippuError):
    """The provider refused our request (4xx other than a decline)."""

    status_code = 502
    code = "payment_provider_rejected"


class OperationNotSupported(KippuError):
    """The provider (or this method) cannot do the requested operation."""

    status_code = 409
    code = "payment_operation_not_supported"


class PaymentProvider(ABC):
    """Base class of every payment provider."""

    #: Unique provider name, stored on each payment.
    name: ClassVar[str]
    #: Methods offered: any of "card", "konbini", "paypay", "paidy", "emoney", "qr".
    methods: ClassVar[tuple[str, ...]]
    #: The credentials it reads from ``self.credentials``, in the order the settings page
    #: shows them. Empty (the default): the provider takes any fields, unchecked.
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()

    def __init__(
        self,
        facility: FacilityContext,
        credentials: dict[str, Any],
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.facility = facility
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        #: HTTP transport for the provider's API; None means the network. Tests inject
        #: ``httpx.ASGITransport`` over a fake here.
        self.transport = transport

    @abstractmethod
    def method_label(self, method: str, locale: str) -> str:
        """Visitor-facing name of ``method`` in ``locale``."""

    @abstractmethod
    async def start(self, payment: PaymentStart) -> NextAction:
        """Begin collecting ``payment.amount`` yen; never charges twice for one payment."""

    # --- the rest of the lifecycle: defaults for providers that settle at once ---------

    def describe(self, method: str, locale: str) -> str:
        """Label of ``method`` for receipts and exports (may name the provider)."""
        return self.method_label(method, locale)

    async def handle_notification(
        self, headers: dict[str, str], body: bytes
    ) -> ProviderEvent | None:
        """Verify a notification (webhook) and say what it means.

        Return a :class:`ProviderEvent` built only from verified data, None for an
        authentic notification that concerns no payment state (answered 200 and ignored),
        or raise :class:`NotificationRejected`. ``headers`` keys are lower-case.
        """
        raise NotificationRejected(f"provider {self.name} accepts no notifications")

    async def query_status(self, provider_ref: str) -> ProviderEvent:
        """Ask the provider for the payment's current state."""
        raise OperationNotSupported(
            f"{self.name} cannot report a payment's status.",
            "この決済方法では状態を照会できません。",
        )

    async def capture(
        self, provider_ref: str, amount: int, *, idempotency_key: str
    ) -> ProviderEvent | None:
        """Capture an authorised payment; None when the provider captures by itself."""
        return None

    async def refund(
        self, provider_ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        """Refund exactly ``amount`` yen (the caller decides full or base price only).

        Calling it again with the same ``idempotency_key`` must not refund twice.
        """
        raise OperationNotSupported(
            f"{self.name} cannot refund automatically.", "この決済方法は自動で返金できません。"
        )

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> None:
        """Give up an unpaid payment (void an authorisation, withdraw a QR code)."""
        raise OperationNotSupported(
            f"{self.name} cannot cancel a payment.", "この決済方法は取り消しできません。"
        )
