"""One payment attempt as the visitor's payment page sees it: found, brought up to date.

A payment is shown only with its order's access key, and only for that order. While it is
pending and the provider has something to tell (its next action is not one the visitor
still has to confirm in the provider's SDK, or the visitor just came back from it), the
provider is asked at once rather than waiting for the notification. A decided payment (or
order) sends the visitor to the order page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Payment
from core_service.payments.provider import NextAction
from core_service.payments.reconciliation import check_with_provider
from core_service.payments.registry import build_provider
from core_service.payments.service import stored_action
from core_service.platform import urls
from core_service.platform.errors import KippuError, NotFound
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront import checkout
from kippu_contract.states import OrderStatus, PaymentState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PaymentView:
    order: Order
    payment: Payment
    #: What the visitor should do next; None when the provider did not answer the start.
    action: NextAction | None
    #: The order page, once the payment or the order is decided; "" while pending.
    decided_url: str


async def visitor_payment(
    session: AsyncSession, shop: Tenant, code: str, key: str, payment_id: int
) -> tuple[Order, Payment]:
    """The order (checked with its access key) and its payment; NotFound otherwise."""
    order = await checkout.order_for_visitor(session, shop, code, key)
    payment = await session.scalar(
        sa.select(Payment).where(
            Payment.id == payment_id,
            Payment.facility_id == shop.id,
            Payment.order_id == order.id,
        )
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    return order, payment


async def current_payment(
    session: AsyncSession,
    shop: Tenant,
    code: str,
    key: str,
    payment_id: int,
    *,
    returned: bool,
    settings: Settings,
    signer: Signer,
) -> PaymentView:
    """The attempt as it stands now, after asking the provider when that can tell more."""
    order, payment = await visitor_payment(session, shop, code, key, payment_id)
    action = stored_action(payment)
    if (
        payment.state == PaymentState.PENDING
        and action is not None
        and (action.kind != "client_confirm" or returned)
    ):
        await _ask_provider(session, shop, payment, settings, signer)
        await session.refresh(payment)
        await session.refresh(order)
    decided_url = ""
    if payment.state != PaymentState.PENDING or order.status != OrderStatus.PENDING:
        extra = {"declined": "1"} if payment.state == PaymentState.FAILED else {}
        decided_url = urls.order_path(shop.facility.slug, order.code, order.access_key, **extra)
    return PaymentView(order, payment, action, decided_url)


async def _ask_provider(
    session: AsyncSession, shop: Tenant, payment: Payment, settings: Settings, signer: Signer
) -> None:
    try:
        await check_with_provider(session, shop, payment, settings=settings, signer=signer)
    except KippuError as exc:
        # The notification or the next reload will tell; the page still shows.
        log.info("could not ask %s about payment %s: %s", payment.provider, payment.id, exc)
        await session.rollback()


def method_label(shop: Tenant, payment: Payment, locale: str, settings: Settings) -> str:
    """The provider's name for the payment's method, or the method's code."""
    try:
        return build_provider(shop, payment.provider, settings).method_label(payment.method, locale)
    except KippuError:
        return payment.method
