"""Segmented mailings (F24): resolve pseudonymous keys, re-check consent, render, queue.

The workbench chooses recipients with DuckDB over the exports and hands over only the
customers' pseudonymous keys. Here the core, which alone holds addresses, resolves the keys
within the caller's facility, drops customers who did not opt in to marketing mail (the
export the workbench read may be seconds old), renders each message in the customer's
language with the placeholders filled in and an unsubscribe link appended, and queues it
in the outbox, which delivers with retries and a rate limit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.mailing.outbox import enqueue
from core_service.models import (
    Customer,
    Facility,
    MailCampaign,
    MailRecipient,
    Order,
    OrderLine,
    OutboxMessage,
)
from core_service.models.mailing import CAMPAIGN_KINDS
from core_service.platform.errors import InvalidInput, NotFound
from core_service.platform.security import Signer

UNSUBSCRIBE_PURPOSE = "unsubscribe"
#: Unsubscribe links keep working for years: old mails get clicked late.
UNSUBSCRIBE_MAX_AGE = 5 * 365 * 24 * 3600
MAX_RECIPIENTS = 100_000
PLACEHOLDERS = ("name", "facility", "visit_date", "unsubscribe_url")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")

FOOTER = {
    "ja": "\n\n--\n{facility}\n配信停止はこちら: {unsubscribe_url}\n",
    "en": "\n\n--\n{facility}\nUnsubscribe: {unsubscribe_url}\n",
}


@dataclass(frozen=True, slots=True)
class Composition:
    kind: str
    subject_ja: str
    subject_en: str
    body_ja: str
    body_en: str

    def validate(self) -> None:
        if self.kind not in CAMPAIGN_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(CAMPAIGN_KINDS)}.")
        if not all(
            s.strip() for s in (self.subject_ja, self.subject_en, self.body_ja, self.body_en)
        ):
            raise InvalidInput(
                "Subject and body are needed in Japanese and English.",
                "件名と本文を日本語と英語の両方で入力してください。",
            )

    def render(self, locale: str, values: Mapping[str, str]) -> tuple[str, str]:
        """(subject, text body) with placeholders filled and the unsubscribe footer."""
        lang = "ja" if locale == "ja" else "en"
        subject = self.subject_ja if lang == "ja" else self.subject_en
        body = (self.body_ja if lang == "ja" else self.body_en) + FOOTER[lang]
        fill = lambda m: values.get(m.group(1), "")  # noqa: E731 - unknown keys stay text
        # Placeholders only; a subject never carries a line break (header injection).
        return _PLACEHOLDER.sub(fill, subject).replace("\n", " "), _PLACEHOLDER.sub(fill, body)


def unsubscribe_token(signer: Signer, facility_id: int, customer_id: int) -> str:
    return signer.dumps(UNSUBSCRIBE_PURPOSE, {"f": facility_id, "c": customer_id})


def unsubscribe_url(signer: Signer, base_url: str, facility_id: int, customer_id: int) -> str:
    return (
        f"{base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(signer, facility_id, customer_id)}"
    )


async def unsubscribe(session: AsyncSession, signer: Signer, token: str) -> Customer:
    """Turn marketing mail off for the customer the token names (idempotent)."""
    customer = await customer_for_token(session, signer, token)
    if customer.marketing_opt_in:
        customer.marketing_opt_in = False
        await session.commit()
    return customer


async def customer_for_token(session: AsyncSession, signer: Signer, token: str) -> Customer:
    data = signer.loads(UNSUBSCRIBE_PURPOSE, token, UNSUBSCRIBE_MAX_AGE)
    customer = None
    if isinstance(data, dict):
        customer = await session.scalar(
            sa.select(Customer).where(
                Customer.id == data.get("c"), Customer.facility_id == data.get("f")
            )
        )
    if customer is None:
        raise NotFound("This unsubscribe link is not valid.", "この配信停止リンクは無効です。")
    return customer


async def _visit_dates(
    session: AsyncSession, facility_id: int, customer_ids: list[int]
) -> dict[int, dt.date]:
    """Each customer's latest visit date (for the ``{visit_date}`` placeholder)."""
    out: dict[int, dt.date] = {}
    for i in range(0, len(customer_ids), 500):
        rows = await session.execute(
            sa.select(Order.customer_id, sa.func.max(OrderLine.visit_date))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.facility_id == facility_id, Order.customer_id.in_(customer_ids[i : i + 500])
            )
            .group_by(Order.customer_id)
        )
        out.update({cid: day for cid, day in rows if cid is not None and day is not None})
    return out


async def create_campaign(
    session: AsyncSession,
    signer: Signer,
    facility: Facility,
    base_url: str,
    *,
    created_by: str,
    composition: Composition,
    customer_keys: list[str],
    segment: dict[str, Any],
) -> MailCampaign:
    """Queue one message per consenting customer among ``customer_keys``."""
    composition.validate()
    keys = sorted(set(customer_keys))
    if len(keys) > MAX_RECIPIENTS:
        raise InvalidInput(f"At most {MAX_RECIPIENTS} recipients per mailing.")
    campaign = MailCampaign(
        facility_id=facility.id,
        kind=composition.kind,
        created_by=created_by,
        subject_ja=composition.subject_ja,
        subject_en=composition.subject_en,
        body_ja=composition.body_ja,
        body_en=composition.body_en,
        segment=segment,
    )
    session.add(campaign)
    await session.flush()
    customers: list[Customer] = []
    for i in range(0, len(keys), 500):
        # The facility filter is the tenant check: another facility's keys resolve to nobody.
        stmt = sa.select(Customer).where(
            Customer.facility_id == facility.id, Customer.pseudonym.in_(keys[i : i + 500])
        )
        if composition.kind == "marketing":
            stmt = stmt.where(Customer.marketing_opt_in.is_(True))
        customers.extend(await session.scalars(stmt))
    visits = await _visit_dates(session, facility.id, [c.id for c in customers])
    for customer in customers:
        subject, text = composition.render(
            customer.locale,
            {
                "name": customer.name or "",
                "facility": facility.name(customer.locale),
                "visit_date": visits[customer.id].isoformat() if customer.id in visits else "",
                "unsubscribe_url": unsubscribe_url(signer, base_url, facility.id, customer.id),
            },
        )
        message = enqueue(
            session,
            facility.id,
            kind=f"campaign:{composition.kind}",
            to=customer.email,
            subject=subject,
            text=text,
        )
        await session.flush()
        session.add(
            MailRecipient(
                facility_id=facility.id,
                campaign_id=campaign.id,
                customer_id=customer.id,
                outbox_message_id=message.id,
            )
        )
    campaign.skipped = len(keys) - len(customers)
    await session.commit()
    return campaign


def send_test(
    session: AsyncSession,
    facility: Facility,
    base_url: str,
    *,
    to: str,
    locale: str,
    composition: Composition,
) -> None:
    """Queue the composition to the staff member themself, with sample values."""
    composition.validate()
    subject, text = composition.render(
        locale,
        {
            "name": "山田 花子" if locale == "ja" else "Hanako Yamada",
            "facility": facility.name(locale),
            "visit_date": dt.date.today().isoformat(),
            "unsubscribe_url": f"{base_url.rstrip('/')}/unsubscribe/TEST",
        },
    )
    enqueue(
        session, facility.id, kind="campaign:test", to=to, subject="[TEST] " + subject, text=text
    )


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    campaign: MailCampaign
    queued: int
    sent: int
    failed: int

    @property
    def status(self) -> str:
        """queued while any message waits; then sent, or failed if any message failed."""
        if self.queued:
            return "queued"
        return "failed" if self.failed else "sent"


async def campaign_statuses(
    session: AsyncSession, facility_id: int, campaign_id: int | None = None, limit: int = 50
) -> list[CampaignStatus]:
    stmt = sa.select(MailCampaign).where(MailCampaign.facility_id == facility_id)
    if campaign_id is not None:
        stmt = stmt.where(MailCampaign.id == campaign_id)
    campaigns = list(await session.scalars(stmt.order_by(MailCampaign.id.desc()).limit(limit)))
    if campaign_id is not None and not campaigns:
        raise NotFound("No such mailing.", "メール配信が見つかりません。")
    counts: dict[tuple[int, str], int] = {}
    if campaigns:
        rows = await session.execute(
            sa.select(MailRecipient.campaign_id, OutboxMessage.status, sa.func.count())
            .join(OutboxMessage, OutboxMessage.id == MailRecipient.outbox_message_id)
            .where(MailRecipient.campaign_id.in_([c.id for c in campaigns]))
            .group_by(MailRecipient.campaign_id, OutboxMessage.status)
        )
        counts = {(cid, status): n for cid, status, n in rows}
    return [
        CampaignStatus(
            campaign=c,
            queued=counts.get((c.id, "queued"), 0) + counts.get((c.id, "sending"), 0),
            sent=counts.get((c.id, "sent"), 0),
            failed=counts.get((c.id, "failed"), 0),
        )
        for c in campaigns
    ]
