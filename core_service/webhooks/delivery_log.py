"""The delivery log of a facility, newest first, a page at a time (``GET
/api/v1/webhooks/deliveries``): each delivery with its event, endpoint, state, attempts
and the endpoint's last answer or error."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import Tenant
from core_service.webhooks.schemas import WebhookDeliveryOut, WebhookDeliveryPageOut
from kippu_contract.states import WebhookDeliveryState

DEFAULT_PAGE = 50
MAX_PAGE = 200


async def deliveries_page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    before: int | None = None,
    limit: int = DEFAULT_PAGE,
    endpoint_id: int | None = None,
    status: str | None = None,
) -> WebhookDeliveryPageOut:
    """Deliveries with an id below ``before`` (all: None), at most ``limit``, optionally
    of one endpoint or in one state; ``next_before`` is None on the last page."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_PAGE}.", f"limit は 1〜{MAX_PAGE} にしてください。"
        )
    query = (
        sa.select(
            WebhookDelivery,
            WebhookEvent.uuid,
            WebhookEvent.type,
            WebhookEvent.created_at,
            WebhookEndpoint.url,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.facility_id == tenant.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        try:
            query = query.where(WebhookDelivery.status == WebhookDeliveryState(status))
        except ValueError:
            raise InvalidInput(
                f"status must be one of {', '.join(WebhookDeliveryState)}.",
                f"status は {', '.join(WebhookDeliveryState)} のいずれかにしてください。",
            ) from None
    rows = (await session.execute(query)).all()
    page = [
        WebhookDeliveryOut(
            id=d.id,
            event_id=event_uuid,
            event_type=event_type,
            event_created_at=event_created_at,
            endpoint_id=d.endpoint_id,
            endpoint_url=url,
            status=d.status.value,
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
        )
        for d, event_uuid, event_type, event_created_at, url in rows[:limit]
    ]
    return WebhookDeliveryPageOut(
        deliveries=page, next_before=page[-1].id if len(rows) > limit else None
    )
