"""The mail outbox: messages are written in the same transaction as the sale, then
delivered by a background loop over SMTP, with retries and back-off.

When no SMTP host is configured (the demo), delivery writes each message as an ``.eml``
file into ``settings.mail_dir`` instead, which is where the README points demo users.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import OutboxMessage, utcnow
from core_service.platform.database import affected_rows
from core_service.platform.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 50
#: Messages per second one delivery round sends at most, so a large campaign does not
#: trip the relay's (or the recipients' providers') throttling. None: unpaced.
RATE_LIMIT_PER_SECOND: float | None = 20.0


def enqueue(
    session: AsyncSession,
    facility_id: int,
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
) -> OutboxMessage:
    message = OutboxMessage(
        facility_id=facility_id,
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=text,
        body_html=html,
        next_attempt_at=utcnow(),
    )
    session.add(message)
    return message


def build_email(settings: Settings, message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"kippu-{message.id}")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def _send(settings: Settings, email: EmailMessage, message_id: int) -> None:
    if not settings.smtp_host:
        assert settings.mail_dir is not None
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        (settings.mail_dir / f"{message_id:08d}.eml").write_bytes(bytes(email))
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(email)


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    rate_per_second: float | None = RATE_LIMIT_PER_SECOND,
) -> int:
    """Send every message that is due; returns how many were sent.

    Sends are spaced ``1 / rate_per_second`` apart (the rate limit).
    """
    sent = 0
    interval = 1.0 / rate_per_second if rate_per_second else 0.0
    next_send = 0.0
    async with sessionmaker() as session:
        due = (
            await session.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= utcnow())
                .order_by(OutboxMessage.id)
                .limit(BATCH)
            )
        ).all()
        for message in due:
            # Claim the message first so that two workers never send it twice.
            claimed = await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == message.id, OutboxMessage.status == "queued")
                .values(status="sending", attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if affected_rows(claimed) != 1:
                continue
            loop = asyncio.get_running_loop()
            if interval and loop.time() < next_send:
                await asyncio.sleep(next_send - loop.time())
            next_send = loop.time() + interval
            try:
                await asyncio.to_thread(_send, settings, build_email(settings, message), message.id)
            except (OSError, smtplib.SMTPException) as exc:
                attempts = message.attempts + 1
                final = attempts >= MAX_ATTEMPTS
                await session.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id == message.id)
                    .values(
                        status="failed" if final else "queued",
                        last_error=str(exc)[:2000],
                        next_attempt_at=utcnow() + dt.timedelta(seconds=min(2**attempts * 5, 3600)),
                    )
                )
                log.warning(
                    "mail %s to %s failed (attempt %s): %s",
                    message.id,
                    message.to_address,
                    attempts,
                    exc,
                )
            else:
                await session.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id == message.id)
                    .values(status="sent", sent_at=utcnow(), last_error="")
                )
                sent += 1
            await session.commit()
    return sent
