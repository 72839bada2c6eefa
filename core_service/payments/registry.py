"""Which payment providers a facility can use, and building one for a payment.

Providers come from the ``register_payment_providers`` hook of the facility's enabled
plugins only, so a provider plugin that is installed but not enabled can never be chosen.
A provider's credentials are facility settings, stored encrypted and read through
:mod:`.credentials`, because each facility has its own contract with the payment company.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core_service.payments.credentials import load_credentials
from core_service.payments.provider import PaymentProvider
from core_service.platform.errors import InvalidInput
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant


@dataclass(frozen=True, slots=True)
class MethodChoice:
    """One way to pay offered on a channel: provider name, method and its label."""

    provider: str
    method: str
    label: str

    @property
    def value(self) -> str:
        """The form value that names this choice."""
        return f"{self.provider}:{self.method}"


def provider_classes(tenant: Tenant) -> dict[str, type[PaymentProvider]]:
    return {cls.name: cls for cls in tenant.plugins.payment_provider_classes()}


def instantiate_provider(
    tenant: Tenant, provider_cls: type[PaymentProvider], settings: Settings, **kwargs: Any
) -> PaymentProvider:
    """An instance of ``provider_cls`` with the facility's decrypted credentials."""
    credentials = load_credentials(tenant.facility, provider_cls.name, settings.secret_key)
    return provider_cls(tenant.context, credentials, settings.base_url, **kwargs)


def build_provider(tenant: Tenant, name: str, settings: Settings) -> PaymentProvider:
    """An instance of the enabled provider ``name`` for this facility."""
    cls = provider_classes(tenant).get(name)
    if cls is None:
        raise InvalidInput(
            f"Payment provider {name!r} is not available here.",
            "このお支払い方法はご利用いただけません。",
        )
    return instantiate_provider(tenant, cls, settings)


def method_choices(
    tenant: Tenant, channel: str, locale: str, settings: Settings
) -> list[MethodChoice]:
    """Every method the facility's enabled providers offer on ``channel``.

    A facility may narrow them with ``settings["<channel>_payment_methods"]`` (a list of
    method names); without that setting every method of every enabled provider is offered.
    """
    allowed = tenant.facility.settings.get(f"{channel}_payment_methods")
    choices = []
    for name in provider_classes(tenant):
        provider = build_provider(tenant, name, settings)
        for method in provider.methods:
            if allowed is None or method in allowed:
                choices.append(MethodChoice(name, method, provider.method_label(method, locale)))
    return choices
