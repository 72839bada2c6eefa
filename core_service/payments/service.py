"""Starting payments with a provider and completing them: the one path every channel's
online payment goes through.

``start_payment`` records a payment attempt (or picks up the visitor's unfinished one),
asks the provider what happens next, and returns where the visitor goes: the provider's
page for a ``redirect``, otherwise kippu's own payment page (:func:`payment_page_path`)
that shows the QR code, the konbini slip, the browser SDK or a waiting state. When the
provider does not answer (``ProviderUnavailable``) the attempt is kept and the payment
page offers a retry that calls the provider again for the *same* payment, with the same
idempotency key, so nobody pays twice. ``complete_payment`` is what a provider's return
page or notification calls: it confirms the payment through the sale's state machine and
then queues the order confirmation e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.mailing.messages import order_confirmation
from core_service.mailing.outbox import enqueue
from core_service.models import Customer, Order, Payment, utcnow
from core_service.orders import states as order_states
from core_service.payments import states
from core_service.payments.provider import (
    NextAction,
    PaymentDeclined,
    PaymentProvider,
    PaymentStart,
    ProviderUnavailable,
)
from core_service.payments.provider_pages import customer_email
from core_service.payments.registry import build_provider
from core_service.payments.transitions import confirm_payment, create_payment, fail_payment
from core_service.platform import urls
from core_service.platform.errors import Conflict, InvalidInput, KippuError
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from kippu_contract.states import OrderStatus, PaymentState

log = logging.getLogger(__name__)

#: A konbini order's hold lasts this long past the slip's deadline, so that the
#: reconciliation job (which asks the provider first) expires it, not the plain hold expiry.
KONBINI_HOLD_GRACE = dt.timedelta(hours=6)
#: Rounds of finding or opening an attempt; a second is needed only after losing a race.
_ROUNDS = 3
#: Payment.data keys written here: the provider's data of the attempt, nothing else.
NEXT_ACTION, EXPIRES_AT, START_ERROR = "next_action", "expires_at", "start_error"


def payment_page_path(slug: str, code: str, access_key: str, payment_id: int, **extra: str) -> str:
    """kippu's page for one payment attempt of an order (QR, konbini slip, SDK, waiting)."""
    query = urlencode({"key": access_key, **extra})
    return f"/shop/{quote(slug)}/orders/{quote(code)}/payments/{payment_id}?{query}"


def deadline(value: Any) -> int | None:
    """A provider's expiry (epoch seconds, or an ISO 8601 string) as epoch seconds."""
    if isinstance(value, int | float) and value > 0:
        return int(value)
    if isinstance(value, str) and value:
        if value.isdigit():
            return int(value)
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp())
    return None


def stored_action(payment: Payment) -> NextAction | None:
    """The next action the provider gave for ``payment`` (None if the start failed)."""
    raw = (payment.data or {}).get(NEXT_ACTION)
    if not isinstance(raw, dict):
        return None
    return NextAction(
        kind=str(raw.get("kind", "")),
        url=str(raw.get("url", "")),
        provider_ref=payment.provider_ref,
        data=dict(raw.get("data") or {}),
    )


async def start_payment(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    *,
    provider_name: str,
    method: str,
    settings: Settings,
    signer: Signer,
) -> NextAction:
    """Start paying a pending order; a ``redirect`` (or ``paid``) action for the visitor.

    The visitor's unfinished attempt with the same provider and method is continued
    rather than duplicated (the same konbini slip, the same PaymentIntent); attempts
    with another method are given up first (cancelled at the provider where it can),
    so that one order is not paid twice.
    """
    provider = build_provider(tenant, provider_name, settings)
    if method not in provider.methods:
        raise InvalidInput("Unknown payment method.", "このお支払い方法はご利用いただけません。")
    payment = await _attempt_to_pay(session, tenant, order, provider_name, method, settings)
    if (action := stored_action(payment)) is not None:
        return _visitor_action(tenant, order, payment, action, settings.base_url)
    return await _start_with(session, tenant, provider, order, payment, settings, signer)


async def _attempt_to_pay(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    provider_name: str,
    method: str,
    settings: Settings,
) -> Payment:
    """The order's pending attempt with this provider and method, or a new one after
    giving up any other.

    The database keeps one pending attempt per order (a partial unique index): when a
    concurrent start (a double click) opened one first, this insert is refused, and the
    next round finds that attempt and continues it, as if this request had come second.
    """
    for _ in range(_ROUNDS):
        payment = None
        for earlier in await _pending_attempts(session, tenant, order):
            if payment is None and _continuable(earlier, provider_name, method):
                payment = earlier
            else:
                await _give_up(session, tenant, earlier, settings, "superseded by a new attempt")
        if payment is not None:
            return payment
        try:
            return await create_payment(session, tenant, order, provider_name, method)
        except IntegrityError:
            await session.rollback()
            await refresh_after_rollback(session, tenant)
            await session.refresh(order)
    raise Conflict(
        "This order is being paid in another window; please reload the page.",
        "このご注文は別の画面でお支払い中です。ページを再読み込みしてください。",
    )


async def resume_payment(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    payment: Payment,
    *,
    settings: Settings,
    signer: Signer,
) -> NextAction:
    """Call the provider again for a pending attempt whose start failed (same payment,
    same idempotency key); where the visitor goes next."""
    if payment.state != PaymentState.PENDING or order.status != OrderStatus.PENDING:
        page = urls.order_path(tenant.facility.slug, order.code, order.access_key)
        return NextAction(kind="redirect", url=urls.absolute(settings.base_url, page))
    if (action := stored_action(payment)) is not None:
        return _visitor_action(tenant, order, payment, action, settings.base_url)
    provider = build_provider(tenant, payment.provider, settings)
    return await _start_with(session, tenant, provider, order, payment, settings, signer)


async def _pending_attempts(session: AsyncSession, tenant: Tenant, order: Order) -> list[Payment]:
    rows = await session.scalars(
        sa.select(Payment)
        .where(
            Payment.facility_id == tenant.id,
            Payment.order_id == order.id,
            Payment.state == PaymentState.PENDING,
        )
        .order_by(Payment.id.desc())
    )
    return list(rows)


def _continuable(payment: Payment, provider_name: str, method: str) -> bool:
    if (payment.provider, payment.method) != (provider_name, method):
        return False
    expires = (payment.data or {}).get(EXPIRES_AT)
    # An expired QR code or slip cannot be paid any more: start afresh.
    return not (isinstance(expires, int) and expires <= time.time())


async def _give_up(
    session: AsyncSession, tenant: Tenant, payment: Payment, settings: Settings, reason: str
) -> None:
    """Fail a pending attempt, cancelling it at the provider first where possible.

    If the cancel fails and the attempt is paid anyway, ``confirm_payment`` moves it to
    ``refund_due`` (cause ``paid_after_failure``); the order is never paid twice.
    """
    if payment.provider_ref:
        try:
            provider = build_provider(tenant, payment.provider, settings)
            await provider.cancel(
                payment.provider_ref, idempotency_key=f"{payment.idempotency_key}-cancel"
            )
        except KippuError as exc:
            log.info("could not cancel payment %s at %s: %s", payment.id, payment.provider, exc)
    await fail_payment(session, tenant, payment.id, reason)


async def _start_with(
    session: AsyncSession,
    tenant: Tenant,
    provider: PaymentProvider,
    order: Order,
    payment: Payment,
    settings: Settings,
    signer: Signer,
) -> NextAction:
    slug = tenant.facility.slug
    customer = (
        await session.get(Customer, order.customer_id) if order.customer_id is not None else None
    )
    request = PaymentStart(
        payment_id=payment.id,
        order_code=order.code,
        amount=payment.amount,
        method=payment.method,
        locale=order.locale,
        # Providers send the visitor back to the payment page, which asks the provider
        # for the outcome at once instead of waiting for the notification.
        return_url=urls.absolute(
            settings.base_url, payment_page_path(slug, order.code, order.access_key, payment.id)
        ),
        access_key=order.access_key,
        customer_email=customer.email if customer else "",
        customer_name=customer.name if customer else "",
    )
    try:
        action = await provider.start(request)
    except ProviderUnavailable as exc:
        log.warning("%s did not answer the start of payment %s: %s", provider.name, payment.id, exc)
        await merge_provider_data(session, payment.id, {START_ERROR: "unavailable"})
        await session.commit()
        await session.refresh(payment)
        return NextAction(
            kind="redirect",
            url=urls.absolute(
                settings.base_url,
                payment_page_path(slug, order.code, order.access_key, payment.id),
            ),
        )
    except PaymentDeclined:
        await fail_payment(session, tenant, payment.id, f"{provider.name}: declined at start")
        return NextAction(
            kind="redirect",
            url=urls.absolute(
                settings.base_url, urls.order_path(slug, order.code, order.access_key, declined="1")
            ),
        )
    values: dict[str, Any] = {}
    if action.provider_ref:
        values["provider_ref"] = action.provider_ref
    expires = deadline(action.data.get("expires_at"))
    changes: dict[str, Any] = {
        NEXT_ACTION: {"kind": action.kind, "url": action.url, "data": action.data}
    }
    if expires is not None:
        changes[EXPIRES_AT] = expires
    await merge_provider_data(
        session, payment.id, changes, drop=(START_ERROR, EXPIRES_AT), **values
    )
    if action.kind == "konbini" and expires is not None:
        # The slip is payable for days: keep the order's seats until reconciliation has
        # asked the provider after the deadline.
        hold = dt.datetime.fromtimestamp(expires, dt.UTC) + KONBINI_HOLD_GRACE
        await order_states.hold_until(session, tenant.id, order.id, hold)
    states.note(
        session,
        tenant.id,
        payment,
        "started",
        {"next_action": action.kind, "provider_ref": action.provider_ref},
    )
    await session.commit()
    await session.refresh(payment)
    if action.kind == "paid":
        await complete_payment(
            session, tenant, payment.id, action.provider_ref, settings=settings, signer=signer
        )
        return action
    return _visitor_action(tenant, order, payment, action, settings.base_url)


def _visitor_action(
    tenant: Tenant, order: Order, payment: Payment, action: NextAction, base_url: str = ""
) -> NextAction:
    """Where the visitor goes for ``action``: the provider's page, or kippu's page."""
    if action.kind == "redirect" and action.url:
        return action
    page = payment_page_path(tenant.facility.slug, order.code, order.access_key, payment.id)
    return NextAction(
        kind="redirect",
        url=urls.absolute(base_url, page) if base_url else page,
        provider_ref=action.provider_ref,
        data={"shows": action.kind},
    )


async def shorten_konbini_hold(
    session: AsyncSession, facility_id: int, order_id: int, settings: Settings
) -> None:
    """A slip that failed at the provider (expired, cancelled) no longer needs the days-long
    hold: keep the seats only for the usual minutes, in which the visitor may pay another way."""
    soon = utcnow() + dt.timedelta(minutes=settings.hold_minutes)
    await order_states.hold_until(session, facility_id, order_id, soon, only_shorten=True)
    await session.commit()


async def merge_provider_data(
    session: AsyncSession,
    payment_id: int,
    changes: dict[str, Any],
    *,
    drop: tuple[str, ...] = (),
    **values: Any,
) -> None:
    """Merge ``changes`` into ``Payment.data`` (dropping the keys ``drop``), keeping
    every other key; ``values`` are other columns to set in the same UPDATE. Does not
    commit.

    The merge starts from the stored data, not from a loaded object that may be stale,
    and writes a new dict (the JSON column only notices reassignment).
    """
    stored = await session.scalar(sa.select(Payment.data).where(Payment.id == payment_id))
    data = {k: v for k, v in (stored or {}).items() if k not in drop}
    data.update(changes)
    await session.execute(
        sa.update(Payment).where(Payment.id == payment_id).values(data=data, **values)
    )


async def complete_payment(
    session: AsyncSession,
    tenant: Tenant,
    payment_id: int,
    provider_ref: str,
    *,
    settings: Settings,
    signer: Signer,
) -> tuple[Order, bool]:
    """Confirm a payment (idempotent) and, the first time, queue the confirmation mail.

    The mail is written in the transaction that pays the order (``on_paid``), so a crash
    at any point leaves either an unpaid order and no mail, or a paid order and its mail
    in the outbox; the delivery job sends it (docs/jobs.md).
    """

    async def queue_confirmation(order: Order) -> None:
        try:
            # A savepoint: a mail that cannot be built must not undo the payment.
            async with session.begin_nested():
                await queue_order_confirmation(
                    session, tenant, order, settings=settings, signer=signer
                )
        except Exception:
            log.exception("could not queue the confirmation of order %s", order.code)

    return await confirm_payment(
        session, tenant, payment_id, provider_ref, on_paid=queue_confirmation
    )


async def queue_order_confirmation(
    session: AsyncSession, tenant: Tenant, order: Order, *, settings: Settings, signer: Signer
) -> bool:
    """Add the confirmation e-mail of a paid web order to the outbox, in the caller's
    transaction (no commit); False when there is no address."""
    email = await customer_email(session, order)
    if order.channel != "web" or not email:
        return False
    slug = tenant.facility.slug
    ticket_url = urls.absolute(
        settings.base_url, urls.order_path(slug, order.code, order.access_key)
    )
    mypage_url = urls.absolute(
        settings.base_url,
        urls.magic_link_path(
            signer,
            slug,
            tenant.id,
            email,
            purpose=urls.ORDER_MAIL_LINK_PURPOSE,
            locale=order.locale,
        ),
    )
    message = order_confirmation(
        tenant.facility, order, ticket_url=ticket_url, mypage_url=mypage_url
    )
    enqueue(
        session,
        tenant.id,
        kind="order_confirmation",
        to=email,
        subject=message.subject,
        text=message.text,
        html=message.html,
    )
    return True
