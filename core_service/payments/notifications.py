"""Acting on what payment providers tell us: the one path from a verified event to a sale.

A provider plugin verifies a notification (its signature, or by re-fetching the payment
from the provider's API) and turns it into a :class:`ProviderEvent`. :func:`apply_event`
then finds the payment *within that facility* by provider and provider reference and
moves it through the payment state machine (``complete_payment`` / ``fail_payment``, over
``payments.states``), whose conditional updates make duplicates and late, reordered
events change nothing. Money for a payment that cannot pay its order (or for an attempt
given up) leaves it ``refund_due``.

:func:`webhook_route` builds the Litestar handler each provider plugin mounts at
``/api/v1/payments/<provider>/webhook/<facility slug>``: it refuses facilities that have
not enabled the plugin, answers 400 (and logs, changing nothing) when verification
fails or the verified payment names another order than ours (Paidy's ``order_ref``), 503 when the provider cannot be reached to verify (so the provider retries), and
200 otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Payment
from core_service.payments import states
from core_service.payments.provider import (
    NotificationRejected,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
)
from core_service.payments.registry import instantiate_provider
from core_service.payments.service import complete_payment, shorten_konbini_hold
from core_service.payments.transitions import fail_payment
from core_service.platform.errors import NotFound
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost
from kippu_contract.states import PaymentState

log = logging.getLogger(__name__)

#: Outcomes of :func:`apply_event`, for logs, responses and tests.
PAID, DUPLICATE, AUTHORIZED = "paid", "duplicate", "authorized"
FAILED, IGNORED = "failed", "ignored"
#: The money arrived but paid nothing: the payment is now ``refund_due``.
REFUND_DUE = "refund_due"
UNKNOWN_PAYMENT, AMOUNT_MISMATCH = "unknown_payment", "amount_mismatch"
#: The event names another order than its payment's: refused, the order untouched.
ORDER_MISMATCH = "order_mismatch"


async def find_payment(
    session: AsyncSession, tenant: Tenant, provider: str, event: ProviderEvent
) -> Payment | None:
    """The facility's payment an event is about: by provider reference, else by the
    payment id the provider echoed back (for references unknown at start)."""
    if event.provider_ref:
        payment = await session.scalar(
            sa.select(Payment).where(
                Payment.facility_id == tenant.id,
                Payment.provider == provider,
                Payment.provider_ref == event.provider_ref,
            )
        )
        if payment is not None:
            return payment
    if event.merchant_ref.isdigit():
        return await session.scalar(
            sa.select(Payment).where(
                Payment.facility_id == tenant.id,
                Payment.provider == provider,
                Payment.id == int(event.merchant_ref),
            )
        )
    return None


async def apply_event(
    session: AsyncSession,
    tenant: Tenant,
    provider: PaymentProvider,
    event: ProviderEvent,
    *,
    settings: Settings,
    signer: Signer,
) -> str:
    """Apply a verified event to its payment; returns one of the outcome constants.

    Safe to call any number of times, in any order: only a pending payment moves.
    """
    payment = await find_payment(session, tenant, provider.name, event)
    if payment is None:
        log.warning(
            "%s event %s for unknown payment %r/%r at %s",
            provider.name,
            event.event_id,
            event.provider_ref,
            event.merchant_ref,
            tenant.facility.slug,
        )
        return UNKNOWN_PAYMENT
    if "order_ref" in event.detail and not await _names_its_order(session, tenant, payment, event):
        return ORDER_MISMATCH
    if event.state in ("paid", "authorized") and event.amount != payment.amount:
        # A provider never changes the amount; a mismatch is a bug or an attack.
        await _note(
            session,
            tenant,
            payment,
            "amount_mismatch",
            {
                "reported": event.amount,
                "expected": payment.amount,
                "provider_ref": event.provider_ref,
            },
        )
        log.error(
            "%s reports %d yen for payment %d of %d yen; not confirmed",
            provider.name,
            event.amount,
            payment.id,
            payment.amount,
        )
        return AMOUNT_MISMATCH
    if event.state == "authorized":
        if payment.state != PaymentState.PENDING:
            return IGNORED
        captured = await provider.capture(
            event.provider_ref,
            payment.amount,
            idempotency_key=f"{payment.idempotency_key or payment.id}-capture",
        )
        if captured is None or captured.state != "paid":
            return AUTHORIZED
        event = captured
    if event.state == "paid":
        undecided = payment.state in (PaymentState.PENDING, PaymentState.FAILED)
        _, newly_paid = await complete_payment(
            session, tenant, payment.id, event.provider_ref, settings=settings, signer=signer
        )
        if newly_paid:
            return PAID
        await session.refresh(payment, ["state"])
        # Paid nothing (given up, sold out, paid by another attempt): reconciliation
        # gives it back. Any other answer means the payment was decided before.
        return REFUND_DUE if undecided and payment.state == PaymentState.REFUND_DUE else DUPLICATE
    if event.state == "failed":
        await fail_payment(
            session,
            tenant,
            payment.id,
            str(event.detail.get("reason") or f"{provider.name}: failed"),
        )
        if payment.method == "konbini":
            await shorten_konbini_hold(session, tenant.id, payment.order_id, settings)
        return FAILED
    return IGNORED


async def _names_its_order(
    session: AsyncSession, tenant: Tenant, payment: Payment, event: ProviderEvent
) -> bool:
    """Whether the order reference the provider holds (Paidy's ``order_ref``) is the code
    of this payment's order. The browser callback checks the same before confirming: a
    payment made for another order (or another facility's) must never pay this one."""
    code = await session.scalar(
        sa.select(Order.code).where(Order.facility_id == tenant.id, Order.id == payment.order_id)
    )
    reported = str(event.detail.get("order_ref") or "")
    if code is not None and reported == code:
        return True
    await _note(
        session,
        tenant,
        payment,
        "order_mismatch",
        {"reported": reported, "expected": code, "provider_ref": event.provider_ref},
    )
    log.error(
        "%s event %s names order %r, but payment %d is for order %r; refused",
        payment.provider,
        event.event_id,
        reported,
        payment.id,
        code,
    )
    return False


async def _note(
    session: AsyncSession, tenant: Tenant, payment: Payment, what: str, detail: dict[str, Any]
) -> None:
    """Record something notable about a payment without changing its state."""
    states.note(session, tenant.id, payment, what, detail)
    await session.commit()


def _json(body: dict[str, Any], status: int) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


def webhook_route(plugin_name: str, provider_cls: type[PaymentProvider]) -> HTTPRouteHandler:
    """The webhook handler of ``provider_cls``, served by plugin ``plugin_name``."""

    async def receive_notification(
        request: Request[Any, Any, Any],
        facility_slug: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Response[Any]:
        tenant = await load_tenant(db_session, plugin_host, slug=facility_slug)
        if plugin_name not in tenant.plugins.enabled:
            raise NotFound("No such page.", "ページが見つかりません。")
        provider = instantiate_provider(tenant, provider_cls, settings)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = await provider.handle_notification(headers, body)
        except NotificationRejected as exc:
            client = request.client.host if request.client else "?"
            log.warning(
                "rejected %s notification for %s from %s: %s",
                provider_cls.name,
                facility_slug,
                client,
                exc.reason,
            )
            return _json({"detail": "notification rejected", "code": "rejected"}, 400)
        except ProviderUnavailable:
            # We could not verify it now; a non-2xx answer makes the provider send it again.
            return _json({"detail": "try again later", "code": "unavailable"}, 503)
        if event is None:
            return _json({"received": True, "outcome": IGNORED}, 200)
        outcome = await apply_event(
            db_session, tenant, provider, event, settings=settings, signer=signer
        )
        if outcome == ORDER_MISMATCH:  # logged and noted by apply_event
            return _json({"detail": "notification rejected", "code": ORDER_MISMATCH}, 400)
        log.info(
            "%s notification %s for %s: %s",
            provider_cls.name,
            event.event_id,
            facility_slug,
            outcome,
        )
        return _json({"received": True, "outcome": outcome}, 200)

    return post(
        f"/api/v1/payments/{provider_cls.name}/webhook/{{facility_slug:str}}",
        name=f"{provider_cls.name}_webhook",
        status_code=200,
    )(receive_notification)
