"""The mail outbox: messages are written in the same transaction as the change that causes
them (a sale, a hand-on, a campaign), then sent over SMTP by the delivery job
(``deliver_mail`` in :mod:`core_service.jobs.definitions`), with retries and back-off.

Sending is at-least-once with a fixed ``Message-ID`` per message: a message is *claimed*
(``sending``, with a lease) and committed before it is handed to the relay, and marked
``sent`` right after the relay accepted it. A process killed in between leaves it
``sending``; once the lease has run out the next delivery sends it again, with the same
``Message-ID``. The only moment that sends a message twice is a kill in the few
milliseconds between the relay's "250 OK" and our commit, and the repeated ``Message-ID``
lets mail systems drop that copy. One delivery runs at a time (the queue's job lock), so
the rate limit is one for the whole deployment, and a delivery keeps one SMTP connection
open for all its messages.

When no SMTP host is configured (the demo), delivery writes each message as an ``.eml``
file into ``settings.mail_dir`` instead, which is where the README points demo users.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import OutboxMessage, utcnow
from core_service.platform.database import affected_rows
from core_service.platform.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 50
#: A delivery stops taking new batches after this long and leaves the rest to the next
#: run, so that a campaign of many thousand messages does not hold one job for an hour.
DELIVERY_BUDGET_SECONDS = 50.0


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
    """Add a message to the outbox in the caller's transaction (no commit)."""
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


def message_id(settings: Settings, message: OutboxMessage) -> str:
    """The message's ``Message-ID``: the same every time it is sent."""
    domain = settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "kippu.invalid"
    return f"<kippu-{message.facility_id}-{message.id}@{domain}>"


def build_email(settings: Settings, message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = message_id(settings, message)
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


class Relay:
    """Where a delivery hands its messages: one SMTP connection, opened on first use and
    kept for the whole delivery, or the ``mail_dir`` of the demo. Methods block (they run
    in a worker thread)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, email: EmailMessage, number: int) -> None:
        settings = self.settings
        if not settings.smtp_host:
            assert settings.mail_dir is not None
            settings.mail_dir.mkdir(parents=True, exist_ok=True)
            (settings.mail_dir / f"{number:08d}.eml").write_bytes(bytes(email))
            return
        try:
            self._connection().send_message(email)
        except smtplib.SMTPServerDisconnected:
            # The relay closed an idle connection: once more on a new one.
            self.close()
            self._connection().send_message(email)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
            try:
                if settings.smtp_starttls:
                    smtp.starttls()
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    # queued and due, or claimed by a delivery whose lease ran out (it crashed).
    return sa.and_(
        OutboxMessage.status.in_(("queued", "sending")), OutboxMessage.next_attempt_at <= now
    )


async def _claim(
    session: AsyncSession, message: OutboxMessage, now: dt.datetime, lease: dt.timedelta
) -> bool:
    claimed = await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message.id, _due(now))
        .values(status="sending", attempts=OutboxMessage.attempts + 1, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return affected_rows(claimed) == 1


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    budget_seconds: float = DELIVERY_BUDGET_SECONDS,
) -> int:
    """Send the messages that are due, at most ``settings.mail_rate_per_second``; returns
    how many were sent."""
    loop = asyncio.get_running_loop()
    rate = settings.mail_rate_per_second
    interval = 1.0 / rate if rate > 0 else 0.0
    lease = dt.timedelta(seconds=settings.mail_lease_seconds)
    deadline = loop.time() + budget_seconds
    next_send = 0.0
    sent = 0
    relay = Relay(settings)
    try:
        async with sessionmaker() as session:
            while loop.time() < deadline:
                due = (
                    await session.scalars(
                        sa.select(OutboxMessage)
                        .where(_due(utcnow()))
                        .order_by(OutboxMessage.id)
                        .limit(BATCH)
                    )
                ).all()
                await session.commit()
                if not due:
                    break
                for message in due:
                    if loop.time() >= deadline:
                        break
                    if interval and loop.time() < next_send:
                        await asyncio.sleep(next_send - loop.time())
                    # Claim first (committed), so that no other delivery sends it too.
                    if not await _claim(session, message, utcnow(), lease):
                        continue
                    next_send = loop.time() + interval
                    if await _send_one(session, relay, settings, message):
                        sent += 1
    finally:
        await asyncio.to_thread(relay.close)
    return sent


async def _send_one(
    session: AsyncSession, relay: Relay, settings: Settings, message: OutboxMessage
) -> bool:
    attempts = message.attempts + 1  # as claimed
    try:
        await asyncio.to_thread(relay.send, build_email(settings, message), message.id)
    except (OSError, smtplib.SMTPException) as exc:
        await asyncio.to_thread(relay.close)  # QUIT is network I/O: off the event loop
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
        await session.commit()
        log.warning(
            "mail %s to %s failed (attempt %s): %s", message.id, message.to_address, attempts, exc
        )
        return False
    await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(status="sent", sent_at=utcnow(), last_error="")
    )
    await session.commit()
    return True
