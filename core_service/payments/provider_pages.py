"""A payment attempt as a provider's own page or browser callback finds it.

Providers' pages and callbacks (the demo provider's simulated pages, Paidy's checkout
callback) name a facility, a payment and the order's access key in their URL or body.
:func:`provider_payment` is the one check they all go through: the facility has the
provider's plugin enabled, the payment is that provider's and the facility's, and the key
is the order's. Anything else answers "not found" or "not valid", never another
facility's payment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Customer, Order, Payment
from core_service.platform.errors import Forbidden, NotFound
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    tenant: Tenant
    payment: Payment
    order: Order


async def provider_payment(
    session: AsyncSession,
    host: PluginHost,
    *,
    facility_slug: str,
    payment_id: int,
    plugin_name: str,
    provider_name: str,
    access_key: str,
) -> ProviderPayment:
    """The payment ``payment_id`` of ``provider_name`` at the facility, checked."""
    tenant = await load_tenant(session, host, slug=facility_slug)
    if plugin_name not in tenant.plugins.enabled:
        raise NotFound("No such page.", "ページが見つかりません。")
    payment = await session.scalar(
        sa.select(Payment).where(
            Payment.id == payment_id,
            Payment.facility_id == tenant.id,
            Payment.provider == provider_name,
        )
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    order = await session.get(Order, payment.order_id)
    if order is None or order.facility_id != tenant.id:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    if not access_key or not secrets.compare_digest(order.access_key, access_key):
        raise Forbidden("This payment link is not valid.", "このお支払いリンクは無効です。")
    return ProviderPayment(tenant, payment, order)


async def customer_email(session: AsyncSession, order: Order) -> str | None:
    """The e-mail address of the order's customer, if it has one."""
    if order.customer_id is None:
        return None
    return await session.scalar(
        sa.select(Customer.email).where(
            Customer.id == order.customer_id, Customer.facility_id == order.facility_id
        )
    )
