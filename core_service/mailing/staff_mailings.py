"""Mailings as managers send and follow them, and the visitor's unsubscribe, answered as
the API and the unsubscribe page need them.

The campaign rules (consent, pseudonymous keys, the outbox) are
:mod:`core_service.mailing.campaigns`; this module turns requests into its calls.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.mailing.campaigns import (
    CampaignStatus,
    Composition,
    campaign_statuses,
    create_campaign,
    customer_for_token,
    send_test,
    unsubscribe,
)
from core_service.mailing.schemas import (
    CompositionIn,
    MailingIn,
    MailingOut,
    TestMailIn,
    TestMailOut,
)
from core_service.models import Facility
from core_service.platform.security import Signer
from core_service.platform.tenancy import Tenant


async def new_mailing(
    session: AsyncSession,
    signer: Signer,
    tenant: Tenant,
    request: MailingIn,
    *,
    base_url: str,
    created_by: str,
) -> MailingOut:
    """Queue a campaign to the given customers (or segment) and answer with its status."""
    campaign = await create_campaign(
        session,
        signer,
        tenant.facility,
        base_url,
        created_by=created_by,
        composition=_composition(request.composition),
        customer_keys=request.customer_keys,
        segment=request.segment,
    )
    return await mailing(session, tenant, campaign.id)


async def send_test_mailing(
    session: AsyncSession, tenant: Tenant, request: TestMailIn, *, base_url: str, to: str
) -> TestMailOut:
    """Send the composition to the manager's own address only."""
    send_test(
        session,
        tenant.facility,
        base_url,
        to=to,
        locale=request.locale,
        composition=_composition(request.composition),
    )
    await session.commit()
    return TestMailOut(to=to)


async def mailings(session: AsyncSession, tenant: Tenant) -> list[MailingOut]:
    return [_out(s) for s in await campaign_statuses(session, tenant.id)]


async def mailing(session: AsyncSession, tenant: Tenant, mailing_id: int) -> MailingOut:
    (status,) = await campaign_statuses(session, tenant.id, mailing_id)
    return _out(status)


async def unsubscribe_question(session: AsyncSession, signer: Signer, token: str) -> str:
    """The facility name to show above "Stop receiving news?"; checks the token only."""
    customer = await customer_for_token(session, signer, token)
    return await _facility_name(session, customer.facility_id)


async def confirm_unsubscribe(session: AsyncSession, signer: Signer, token: str) -> str:
    """Unsubscribe the token's customer; the facility name for the answer page."""
    customer = await unsubscribe(session, signer, token)
    return await _facility_name(session, customer.facility_id)


async def _facility_name(session: AsyncSession, facility_id: int) -> str:
    facility = await session.get(Facility, facility_id)
    return f"{facility.name_ja} / {facility.name_en}" if facility else ""


def _composition(data: CompositionIn) -> Composition:
    return Composition(data.kind, data.subject_ja, data.subject_en, data.body_ja, data.body_en)


def _out(s: CampaignStatus) -> MailingOut:
    c = s.campaign
    return MailingOut(
        id=c.id,
        kind=c.kind,
        status=s.status,
        subject_ja=c.subject_ja,
        subject_en=c.subject_en,
        created_by=c.created_by,
        created_at=c.created_at,
        recipients=s.queued + s.sent + s.failed,
        skipped=c.skipped,
        queued=s.queued,
        sent=s.sent,
        failed=s.failed,
    )
