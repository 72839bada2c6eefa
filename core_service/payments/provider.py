"""The payment provider interface that plugins implement.

A provider is a class returned by the ``register_payment_providers`` hook. The core
creates one instance per use with the facility and its credentials, asks it to
``start`` a payment, and learns the outcome either at once (``NextAction.kind ==
"paid"``), after a redirect back, or from a notification.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..plugin_api import FacilityContext


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


@dataclass(frozen=True, slots=True)
class NextAction:
    """What happens next: "redirect" the visitor to ``url``, or "paid" already."""

    kind: str
    url: str = ""
    provider_ref: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(ABC):
    """Base class of every payment provider."""

    #: Unique provider name, stored on each payment.
    name: ClassVar[str]
    #: Methods offered: any of "card", "konbini", "paypay", "paidy", "emoney", "qr".
    methods: ClassVar[tuple[str, ...]]

    def __init__(
        self, facility: FacilityContext, credentials: dict[str, Any], base_url: str
    ) -> None:
        self.facility = facility
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def method_label(self, method: str, locale: str) -> str:
        """Visitor-facing name of ``method`` in ``locale``."""

    @abstractmethod
    async def start(self, payment: PaymentStart) -> NextAction:
        """Begin collecting ``payment.amount`` yen; never charges twice for one payment."""
