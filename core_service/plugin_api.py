"""The plugin API: everything a kippu plugin may import from the core, in one module.

A plugin is a module or object with functions decorated ``@hookimpl`` whose names match
the specifications in :mod:`core_service.plugins.hookspecs`, declared in the ``kippu``
entry-point group of its distribution (see ``docs/plugins.md``). Plugins import from this
module only (the import linter holds them to it), so the core may move its internals
without breaking a plugin; what is named here is the promise.

- **Hooks and the values they exchange**: :data:`hookimpl`, :class:`FacilityContext`,
  :class:`CheckoutField`, :class:`FieldError`, :class:`AvailabilityMarker`,
  :class:`PaidOrder`, :class:`Redemption`, and :class:`OptionField` (the options a plugin
  declares with ``plugin_options``, shown as a settings form).
- **Payment providers** (returned by ``register_payment_providers``): the
  :class:`PaymentProvider` interface, the :class:`CredentialField` it declares, its request
  and answer types and its errors, the
  :class:`ProviderHTTP` client, the credentials store and :func:`webhook_route`, which
  serves a provider's verified notifications.
- **A provider's own pages and callbacks**: :func:`provider_payment` finds and checks the
  payment they are for; :func:`complete_payment`, :func:`fail_payment` and
  :func:`apply_event` move it on; :func:`render_page` and :mod:`urls` render and link
  visitor pages.
- **What route handlers receive by dependency injection**: :class:`PluginHost`,
  :class:`Settings`, :class:`Signer`, and the errors that become clear answers.
"""

from __future__ import annotations

from core_service.models import Order, Payment
from core_service.payments.credentials import load_credentials, store_credentials
from core_service.payments.http import ProviderHTTP, json_or_empty
from core_service.payments.notifications import apply_event, webhook_route
from core_service.payments.provider import (
    CredentialField,
    NextAction,
    NotificationRejected,
    OperationNotSupported,
    PaymentDeclined,
    PaymentProvider,
    PaymentStart,
    ProviderEvent,
    ProviderRejected,
    ProviderUnavailable,
    RefundResult,
)
from core_service.payments.provider_pages import ProviderPayment, customer_email, provider_payment
from core_service.payments.registry import instantiate_provider
from core_service.payments.service import complete_payment, payment_page_path
from core_service.payments.transitions import fail_payment
from core_service.platform import urls
from core_service.platform.errors import Forbidden, InvalidInput, KippuError, NotFound
from core_service.platform.security import Signer, new_token
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost
from core_service.plugins.values import (
    AvailabilityMarker,
    CheckoutField,
    FacilityContext,
    FieldError,
    OptionField,
    PaidOrder,
    Redemption,
    hookimpl,
)
from core_service.storefront.rendering import render_page, request_locale

__all__ = [
    "AvailabilityMarker",
    "CheckoutField",
    "CredentialField",
    "FacilityContext",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "KippuError",
    "NextAction",
    "NotFound",
    "NotificationRejected",
    "OperationNotSupported",
    "OptionField",
    "Order",
    "PaidOrder",
    "Payment",
    "PaymentDeclined",
    "PaymentProvider",
    "PaymentStart",
    "PluginHost",
    "ProviderEvent",
    "ProviderHTTP",
    "ProviderPayment",
    "ProviderRejected",
    "ProviderUnavailable",
    "Redemption",
    "RefundResult",
    "Settings",
    "Signer",
    "Tenant",
    "apply_event",
    "complete_payment",
    "customer_email",
    "fail_payment",
    "hookimpl",
    "instantiate_provider",
    "json_or_empty",
    "load_credentials",
    "new_token",
    "payment_page_path",
    "provider_payment",
    "render_page",
    "request_locale",
    "store_credentials",
    "urls",
    "webhook_route",
]
