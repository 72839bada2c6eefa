"""Sending the due webhook deliveries: :func:`deliver_due`, safe to run in several
worker processes at once.

For each endpoint with a due delivery it claims that endpoint's *next* delivery
(``states.claim``: a conditional UPDATE, so two workers never both win, and only when no
earlier event of the endpoint is unfinished, so each endpoint receives its events in
order), commits the claim, POSTs the stored body signed with the endpoint's current
secret (``kippu_contract.webhooks``), and records the attempt: status code or error and
duration in ``webhook_attempt``, and the move to ``delivered`` (2xx), back to ``pending``
with an exponential back-off, or to ``failed`` after ``settings.webhook_max_attempts``.

A claim carries a lease: the attempt's timeout plus :data:`LEASE_MARGIN`. A worker killed
mid-attempt leaves its delivery ``sending``; once the lease has lapsed the next run sends
it again. That is the one case in which a receiver can get an event twice (the POST
arrived, its outcome was never recorded), always with the same ``Kippu-Event-Id``.

No network call happens inside a database transaction. Redirects are not followed (a 3xx
is a failure), response bodies are not read, and unless
``settings.webhook_allow_private_targets`` is on, a host that resolves to a loopback,
private, link-local or otherwise non-public address is refused before connecting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    utcnow,
)
from core_service.platform.settings import Settings
from core_service.webhooks import states
from core_service.webhooks.endpoints import secret_cipher
from kippu_contract.webhooks import signed_headers

log = logging.getLogger(__name__)

#: Endpoints served per call, and deliveries per endpoint per call: a backlog is worked
#: off over several background rounds instead of holding up one.
ENDPOINTS_PER_RUN = 50
DELIVERIES_PER_ENDPOINT = 20
#: Endpoints sent to at the same time (each sequentially, in event order).
CONCURRENCY = 4
#: A claim lapses this long after the attempt's timeout (killed worker: send again).
LEASE_MARGIN = dt.timedelta(seconds=60)
#: The longest wait between two attempts.
MAX_BACKOFF = dt.timedelta(hours=6)
USER_AGENT = "kippu-webhooks/1"
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed delivery: attempt number ``attempt`` of it is this worker's."""

    delivery_id: int
    facility_id: int
    attempt: int
    event_uuid: str
    body: str
    url: str
    secret_encrypted: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int, first: float) -> dt.timedelta:
    """The wait after failed attempt ``attempt`` (1, 2, ...): ``first`` seconds, doubling."""
    return min(dt.timedelta(seconds=first * 2 ** (attempt - 1)), MAX_BACKOFF)


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Send what is due now; how many deliveries the endpoints accepted (2xx)."""
    async with sessionmaker() as session:
        endpoint_ids = (
            await session.scalars(
                sa.select(WebhookDelivery.endpoint_id)
                .where(states.claimable(utcnow()))
                .group_by(WebhookDelivery.endpoint_id)
                .order_by(sa.func.min(WebhookDelivery.event_id))
                .limit(ENDPOINTS_PER_RUN)
            )
        ).all()
    if not endpoint_ids:
        return 0
    http = client or httpx.AsyncClient(follow_redirects=False)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def drain(endpoint_id: int) -> int:
        async with gate:
            return await _drain(sessionmaker, settings, http, endpoint_id)

    try:
        return sum(await asyncio.gather(*(drain(e) for e in endpoint_ids)))
    finally:
        if client is None:
            await http.aclose()


async def _drain(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    endpoint_id: int,
) -> int:
    """Send one endpoint's due deliveries in event order, until one is to be retried."""
    delivered = 0
    for _ in range(DELIVERIES_PER_ENDPOINT):
        job = await _claim_next(sessionmaker, settings, endpoint_id)
        if job is None:
            return delivered  # nothing due, or another worker has this endpoint now
        outcome = await _attempt(http, settings, job)
        if not await _record(sessionmaker, settings, job, outcome):
            return delivered  # the endpoint's later events wait behind this retry
        if outcome.ok:
            delivered += 1
    return delivered


async def _claim_next(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, endpoint_id: int
) -> _Job | None:
    now = utcnow()
    async with sessionmaker() as session:
        row = (
            await session.execute(
                sa.select(
                    WebhookDelivery.id,
                    WebhookDelivery.facility_id,
                    WebhookEvent.uuid,
                    WebhookEvent.body,
                    WebhookEndpoint.url,
                    WebhookEndpoint.secret_encrypted,
                )
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.endpoint_id == endpoint_id, states.claimable(now))
                .order_by(WebhookDelivery.event_id)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        lease = now + dt.timedelta(seconds=settings.webhook_timeout_seconds) + LEASE_MARGIN
        if not await states.claim(session, row.facility_id, row.id, now=now, lease_until=lease):
            await session.rollback()
            return None
        # Read in the claim's transaction: the number this claim gave the attempt.
        attempt = await session.scalar(
            sa.select(WebhookDelivery.attempts).where(WebhookDelivery.id == row.id)
        )
        await session.commit()
    assert attempt is not None
    return _Job(row.id, row.facility_id, attempt, row.uuid, row.body, row.url, row.secret_encrypted)


async def _refusal(url: str) -> str:
    """Why ``url``'s host may not be sent to (a non-public address), or ""."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global:
            return (
                f"refused: {host} is {ip}, not a public address"
                " (KIPPU_WEBHOOK_ALLOW_PRIVATE_TARGETS)"
            )
    return ""


async def _attempt(http: httpx.AsyncClient, settings: Settings, job: _Job) -> _Outcome:
    """POST the event once; what happened. Never raises for the endpoint's failures."""
    started_at, clock = utcnow(), time.perf_counter()

    def outcome(status_code: int | None, error: str) -> _Outcome:
        duration = round((time.perf_counter() - clock) * 1000)
        return _Outcome(started_at, duration, status_code, error[:MAX_ERROR])

    if not settings.webhook_allow_private_targets and (refused := await _refusal(job.url)):
        return outcome(None, refused)
    try:
        secret = secret_cipher(settings.secret_key).decrypt(job.secret_encrypted.encode())
    except InvalidToken:
        return outcome(None, "the endpoint's secret cannot be read (was KIPPU_SECRET_KEY changed?)")
    body = job.body.encode()
    headers = {**signed_headers(secret.decode(), job.event_uuid, body), "User-Agent": USER_AGENT}
    try:
        # The whole attempt, not each read: a receiver dripping bytes stays within the lease.
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            async with http.stream("POST", job.url, content=body, headers=headers) as response:
                status_code = response.status_code  # the body is never read
    except TimeoutError:
        return outcome(None, f"no answer within {settings.webhook_timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return outcome(None, f"{type(exc).__name__}: {exc}")
    if 200 <= status_code < 300:
        return outcome(status_code, "")
    return outcome(status_code, f"HTTP {status_code}")


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    job: _Job,
    outcome: _Outcome,
) -> bool:
    """The attempt's row and the delivery's move, in one transaction; whether the
    delivery is finished (delivered, or given up), so the endpoint's next may go."""
    async with sessionmaker() as session:
        session.add(
            WebhookAttempt(
                facility_id=job.facility_id,
                delivery_id=job.delivery_id,
                number=job.attempt,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                error=outcome.error,
            )
        )
        args = (session, job.facility_id, job.delivery_id, job.attempt)
        finished = outcome.ok or job.attempt >= settings.webhook_max_attempts
        if outcome.ok:
            assert outcome.status_code is not None
            moved = await states.delivered(*args, status_code=outcome.status_code, now=utcnow())
        elif job.attempt >= settings.webhook_max_attempts:
            moved = await states.give_up(
                *args, status_code=outcome.status_code, error=outcome.error
            )
            log.warning("webhook delivery %s given up: %s", job.delivery_id, outcome.error)
        else:
            wait = backoff(job.attempt, settings.webhook_retry_seconds)
            moved = await states.retry(
                *args,
                status_code=outcome.status_code,
                error=outcome.error,
                next_attempt_at=utcnow() + wait,
            )
            log.info(
                "webhook delivery %s attempt %s failed (%s); next in %s",
                job.delivery_id,
                job.attempt,
                outcome.error,
                wait,
            )
        if not moved:  # the lease lapsed and another worker took over: its outcome stands
            log.warning(
                "webhook delivery %s: attempt %s outcome late", job.delivery_id, job.attempt
            )
        await session.commit()
    return finished and moved
