"""A facility enters its payment provider keys: the checks, the sealed store, the audit.

Each facility has its own contract with a payment company, so it types its own API keys
(issue 4). They are sealed by :mod:`core_service.payments.credentials` and never shown back
in full: every answer, and the audit log, carries only the masked view or field names.
Who may do what is decided by the routes' guards
(:mod:`core_service.payments.credentials_controllers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, utcnow
from core_service.payments.credentials import SETTINGS_KEY, masked_credentials, store_credentials
from core_service.payments.provider import CredentialField
from core_service.payments.schemas import (
    CredentialFieldOut,
    PaymentCredentialsOut,
    ProviderCredentialsOut,
)
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost

#: Generous bounds that still stop a pasted file from landing in the settings JSON.
MAX_FIELDS = 20
MAX_NAME_LENGTH = 64
MAX_VALUE_LENGTH = 4096


def installed_providers(host: PluginHost) -> dict[str, tuple[CredentialField, ...]]:
    """The providers of every installed plugin, enabled here or not, by name, with the
    credential fields each declares.

    A facility enters its keys before it enables the provider, so the check is against
    installed plugins rather than the facility's enabled ones.
    """
    return {
        cls.name: tuple(cls.credential_fields)
        for classes in host.pm.hook.register_payment_providers()
        for cls in classes
    }


def installed_provider_names(host: PluginHost) -> list[str]:
    """Names of the providers of every installed plugin, enabled here or not."""
    return sorted(installed_providers(host))


def credentials_overview(tenant: Tenant, host: PluginHost) -> PaymentCredentialsOut:
    """Which providers are installed, and the masked credentials the facility entered."""
    stored = (tenant.facility.settings or {}).get(SETTINGS_KEY, {})
    installed = installed_providers(host)
    return PaymentCredentialsOut(
        providers=sorted(installed),
        credentials=[
            ProviderCredentialsOut(
                provider=name,
                fields=fields,
                updated_at=stored.get(name, {}).get("updated_at"),
            )
            for name, fields in sorted(masked_credentials(tenant.facility).items())
        ],
        declared_fields={
            name: [
                CredentialFieldOut(
                    name=f.name, label_ja=f.label_ja, label_en=f.label_en, secret=f.secret
                )
                for f in declared
            ]
            for name, declared in sorted(installed.items())
        },
    )


def checked_values(data: Any) -> dict[str, str]:
    """The credential fields of the request body, or a 422 saying what is wrong."""
    if not isinstance(data, dict) or not data:
        raise InvalidInput(
            "Send a JSON object of credential fields.",
            "認証情報の項目をJSONオブジェクトで送信してください。",
        )
    if len(data) > MAX_FIELDS or not all(
        isinstance(k, str) and 0 < len(k) <= MAX_NAME_LENGTH for k in data
    ):
        raise InvalidInput("Too many or invalid field names.", "項目名が正しくありません。")
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE_LENGTH for v in data.values()):
        raise InvalidInput(
            "Every credential must be non-empty text.",
            "認証情報は空でない文字列で入力してください。",
        )
    return dict(data)


def refuse_undeclared(
    provider: str, declared: tuple[CredentialField, ...], names: Iterable[str]
) -> None:
    """A 422 naming the first field ``provider`` does not declare (when it declares any)."""
    known = {f.name for f in declared}
    unknown = sorted(n for n in names if known and n not in known)
    if unknown:
        raise InvalidInput(
            f"{provider} has no credential field {unknown[0]!r}; "
            f"its fields are: {', '.join(f.name for f in declared)}.",
            f"{provider} には認証情報の項目「{unknown[0]}」はありません。"
            f"項目: {'、'.join(f.name for f in declared)}",
            field=unknown[0],
        )


async def enter_credentials(
    session: AsyncSession,
    tenant: Tenant,
    host: PluginHost,
    provider: str,
    data: Any,
    *,
    secret_key: str,
    actor: str,
) -> ProviderCredentialsOut:
    """Check and seal the ``provider``'s credentials for the facility; answer masked.

    The provider must be installed (not necessarily enabled: keys come first), and every
    field one it declares (:attr:`PaymentProvider.credential_fields`). The audit
    entry names the fields only: not even the masked values belong in the log."""
    installed = installed_providers(host)
    if provider not in installed:
        raise InvalidInput(
            f"Payment provider {provider!r} is not installed.",
            "その決済サービスはインストールされていません。",
        )
    values = checked_values(data)
    refuse_undeclared(provider, installed[provider], values)
    masked = await store_credentials(session, tenant.id, provider, values, secret_key)
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action="facility.payment_credentials",
            subject=provider,
            data={"provider": provider, "fields": sorted(values)},
        )
    )
    await session.commit()
    stored = (tenant.facility.settings or {}).get(SETTINGS_KEY, {}).get(provider, {})
    return ProviderCredentialsOut(
        provider=provider, fields=masked, updated_at=stored.get("updated_at")
    )
