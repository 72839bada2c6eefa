"""Starting payments with a provider and completing them: the one path every channel's
online payment goes through.

``start_payment`` records a payment attempt and asks the provider what happens next
(usually a redirect to its page). ``complete_payment`` is what a provider's return page
or notification calls: it confirms the payment through the sale's state machine and then
queues the order confirmation e-mail.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidInput
from ..mailing.messages import order_confirmation
from ..mailing.outbox import enqueue
from ..models import Customer, Order, Payment
from ..sales.service import confirm_payment, create_payment
from ..security import Signer
from ..settings import Settings
from ..tenancy import Tenant
from ..web import urls
from .provider import NextAction, PaymentStart
from .registry import build_provider

log = logging.getLogger(__name__)


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
    """Create a payment attempt for a pending order and start it with the provider."""
    provider = build_provider(tenant, provider_name, settings)
    if method not in provider.methods:
        raise InvalidInput("Unknown payment method.", "このお支払い方法はご利用いただけません。")
    payment = await create_payment(session, tenant, order, provider_name, method)
    customer = (
        await session.get(Customer, order.customer_id) if order.customer_id is not None else None
    )
    action = await provider.start(
        PaymentStart(
            payment_id=payment.id,
            order_code=order.code,
            amount=payment.amount,
            method=method,
            locale=order.locale,
            return_url=urls.absolute(
                settings.base_url,
                urls.order_path(tenant.facility.slug, order.code, order.access_key),
            ),
            access_key=order.access_key,
            customer_email=customer.email if customer else "",
            customer_name=customer.name if customer else "",
        )
    )
    if action.provider_ref:
        await session.execute(
            sa.update(Payment)
            .where(Payment.id == payment.id)
            .values(provider_ref=action.provider_ref)
        )
        await session.commit()
    if action.kind == "paid":
        await complete_payment(
            session, tenant, payment.id, action.provider_ref, settings=settings, signer=signer
        )
    return action


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

    The mail is queued right after ``confirm_payment`` commits, not inside its
    transaction: ``confirm_payment`` owns its transaction (kiosks and webhooks call it
    too) and the mail needs the issued tickets, which exist only once it has run. The
    cost is a small window (a crash between the two commits) in which a paid order gets
    no mail; the tickets stay reachable from My Page, so nothing is lost but the mail.
    """
    order, newly_paid = await confirm_payment(session, tenant, payment_id, provider_ref)
    if newly_paid:
        try:
            await queue_order_confirmation(session, tenant, order, settings=settings, signer=signer)
        except Exception:  # the sale stands even if the mail cannot be built
            log.exception("could not queue the confirmation of order %s", order.code)
            await session.rollback()
    return order, newly_paid


async def queue_order_confirmation(
    session: AsyncSession, tenant: Tenant, order: Order, *, settings: Settings, signer: Signer
) -> bool:
    """Queue the confirmation e-mail of a paid web order; False when there is no address."""
    email = await _customer_email(session, order)
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
    await session.commit()
    return True


async def _customer_email(session: AsyncSession, order: Order) -> str | None:
    if order.customer_id is None:
        return None
    return await session.scalar(sa.select(Customer.email).where(Customer.id == order.customer_id))
