"""Managing a facility's webhook endpoints (owners and managers): create, list, change,
delete, and rotate the signing secret.

The secret is made here (``secrets.token_urlsafe``), answered only by create and rotate,
and stored Fernet-encrypted under a key derived from the deployment secret (its own
purpose, as for payment credentials), so a database dump alone cannot forge webhooks.
Only ``http://`` and ``https://`` URLs are accepted. Every change is in the audit log,
and every change of an endpoint row moves the facility's ``config_version`` (a trigger),
so kiosks and gates learn at once which events now have subscribers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, WebhookEndpoint, utcnow
from core_service.platform.errors import Conflict, InvalidInput, NotFound
from core_service.platform.security import purpose_cipher
from core_service.platform.tenancy import Tenant
from core_service.webhooks.schemas import (
    WebhookEndpointChangeIn,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookSecretOut,
)
from kippu_contract.webhooks import EVENT_TYPES

#: Endpoints one facility may have; each is one more POST per event.
MAX_ENDPOINTS = 20
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
SECRET_PREFIX = "whsec_"
_PURPOSE = b"kippu webhook signing secrets"


class InvalidWebhookURL(InvalidInput):
    code = "invalid_webhook_url"


class UnknownWebhookEvent(InvalidInput):
    code = "unknown_webhook_event"


def secret_cipher(secret_key: str) -> Fernet:
    """The Fernet key the endpoint secrets are stored under."""
    return purpose_cipher(secret_key, _PURPOSE)


def checked_url(url: str) -> str:
    """``url`` stripped, if it is an absolute http(s) URL with a host; else refused (422)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        httpx.URL(url)  # what the delivery will send to must parse
    except (ValueError, httpx.InvalidURL):
        host = None
    if len(url) > MAX_URL_LENGTH or host is None or parts.scheme not in ("http", "https"):
        raise InvalidWebhookURL(
            "The webhook URL must be an http:// or https:// address with a host name"
            f" (at most {MAX_URL_LENGTH} characters).",
            "Webhook の URL は http:// または https:// で始まり、ホスト名を含むアドレスにしてください"
            f"（{MAX_URL_LENGTH} 文字以内）。",
        )
    return url


def checked_events(events: Iterable[str]) -> list[str]:
    """The event types, each once, in the order of ``EVENT_TYPES``; refused if unknown."""
    wanted = set(events)
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown or not wanted:
        raise UnknownWebhookEvent(
            f"Unknown webhook events: {', '.join(unknown)}. Choose from {', '.join(EVENT_TYPES)}."
            if unknown
            else f"Choose at least one event: {', '.join(EVENT_TYPES)}.",
            f"イベントは次の中から1つ以上選んでください: {', '.join(EVENT_TYPES)}",
        )
    return [e for e in EVENT_TYPES if e in wanted]


def checked_description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"The description is longer than {MAX_DESCRIPTION_LENGTH} characters.",
            f"説明は {MAX_DESCRIPTION_LENGTH} 文字以内にしてください。",
        )
    return text


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=[str(e) for e in endpoint.events],
        active=endpoint.active,
        description=endpoint.description,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _new_secret(secret_key: str) -> tuple[str, str]:
    """(the secret, as stored)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, secret_cipher(secret_key).encrypt(secret.encode()).decode()


def _audit(
    session: AsyncSession, tenant: Tenant, actor: str, action: str, endpoint: WebhookEndpoint
) -> None:
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action=action,
            subject=f"webhook_endpoint:{endpoint.id}",
            data={"url": endpoint.url, "events": list(endpoint.events), "active": endpoint.active},
        )
    )


async def endpoints(session: AsyncSession, tenant: Tenant) -> list[WebhookEndpointOut]:
    rows = await session.scalars(
        sa.select(WebhookEndpoint)
        .where(WebhookEndpoint.facility_id == tenant.id)
        .order_by(WebhookEndpoint.id)
    )
    return [endpoint_out(e) for e in rows]


async def _endpoint(session: AsyncSession, tenant: Tenant, endpoint_id: int) -> WebhookEndpoint:
    """The facility's endpoint; another facility's is "not found", like a missing one."""
    endpoint = await session.scalar(
        sa.select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.facility_id == tenant.id
        )
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.", "Webhook の送信先が見つかりません。")
    return endpoint


async def create_endpoint(
    session: AsyncSession, tenant: Tenant, data: WebhookEndpointIn, *, secret_key: str, actor: str
) -> WebhookSecretOut:
    """A new endpoint, answered with its secret (shown this once)."""
    url, events = checked_url(data.url), checked_events(data.events)
    description = checked_description(data.description)
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.facility_id == tenant.id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise Conflict(
            f"A facility may have at most {MAX_ENDPOINTS} webhook endpoints.",
            f"Webhook の送信先は {MAX_ENDPOINTS} 件までです。",
        )
    secret, stored = _new_secret(secret_key)
    endpoint = WebhookEndpoint(
        facility_id=tenant.id,
        url=url,
        events=events,
        active=data.active,
        description=description,
        secret_encrypted=stored,
    )
    session.add(endpoint)
    await session.flush()
    _audit(session, tenant, actor, "webhook.created", endpoint)
    await session.commit()
    return WebhookSecretOut(endpoint=endpoint_out(endpoint), secret=secret)


async def change_endpoint(
    session: AsyncSession,
    tenant: Tenant,
    endpoint_id: int,
    change: WebhookEndpointChangeIn,
    *,
    actor: str,
) -> WebhookEndpointOut:
    """Change the URL, the events, the switch or the description (only those given)."""
    endpoint = await _endpoint(session, tenant, endpoint_id)
    if change.url is not None:
        endpoint.url = checked_url(change.url)
    if change.events is not None:
        endpoint.events = checked_events(change.events)
    if change.active is not None:
        endpoint.active = change.active
    if change.description is not None:
        endpoint.description = checked_description(change.description)
    await session.flush()
    _audit(session, tenant, actor, "webhook.changed", endpoint)
    await session.commit()
    await session.refresh(endpoint)
    return endpoint_out(endpoint)


async def delete_endpoint(
    session: AsyncSession, tenant: Tenant, endpoint_id: int, *, actor: str
) -> None:
    """Delete the endpoint with its deliveries (undelivered events are not sent)."""
    endpoint = await _endpoint(session, tenant, endpoint_id)
    _audit(session, tenant, actor, "webhook.deleted", endpoint)
    await session.delete(endpoint)
    await session.commit()


async def rotate_secret(
    session: AsyncSession, tenant: Tenant, endpoint_id: int, *, secret_key: str, actor: str
) -> WebhookSecretOut:
    """A new secret at once: every attempt from now on, retries too, is signed with it."""
    endpoint = await _endpoint(session, tenant, endpoint_id)
    secret, endpoint.secret_encrypted = _new_secret(secret_key)
    await session.flush()
    _audit(session, tenant, actor, "webhook.secret_rotated", endpoint)
    await session.commit()
    await session.refresh(endpoint)
    return WebhookSecretOut(endpoint=endpoint_out(endpoint), secret=secret)
