"""Staff API for cancellations and refunds (F6, F7).

Roles: every ``staff`` member (and above) may quote and cancel an order or single tickets
of it under the facility's policy, retry a failed refund and record an in-person payout:
this is box-office work. Waiving the cancellation fee departs from the policy, so it
needs ``manager``. Nobody may choose a refund amount: a request may state the amount it
expects, and is refused when that is not the policy's (no arbitrary partial refunds).
Cancelling needs an ``Idempotency-Key`` header, so a retried request never refunds twice.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.cancellation import CancelOutcome, Quote, cancel_tickets, quote
from core_service.aftersales.refunds import mark_paid_out, send_refund
from core_service.aftersales.schemas import (
    CancelIn,
    CancellationOut,
    QuoteOut,
    RefundOut,
    TicketQuoteOut,
)
from core_service.models import Cancellation, Refund
from core_service.orders.queries import load_order
from core_service.platform.errors import InvalidInput
from core_service.platform.guards import requires_role, requires_role_to_set
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant


def quote_out(order_code: str, q: Quote) -> QuoteOut:
    return QuoteOut(
        order_code=order_code,
        tickets=[
            TicketQuoteOut(t.ticket_id, t.base, t.handling_fee, t.fee, t.refund, t.days_before)
            for t in q.tickets
        ],
        base_total=q.base_total,
        fee=q.fee,
        handling_fee_kept=q.handling_fee_kept,
        refund_amount=q.refund_amount,
    )


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.id,
        state=refund.state,
        amount=refund.amount,
        provider=refund.provider,
        provider_ref=refund.provider_ref,
        attempts=refund.attempts,
        last_error=refund.last_error,
        refunded_at=refund.refunded_at,
    )


def cancellation_out(order_code: str, order_status: str, outcome: CancelOutcome) -> CancellationOut:
    c: Cancellation = outcome.cancellation
    return CancellationOut(
        id=c.id,
        order_code=order_code,
        order_status=order_status,
        ticket_ids=[int(i) for i in c.ticket_ids],
        base_total=c.base_total,
        fee=c.fee,
        handling_fee_kept=c.handling_fee_kept,
        refund_amount=c.refund_amount,
        replayed=not outcome.created,
        refund=refund_out(outcome.refund) if outcome.refund is not None else None,
    )


def _ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInput("ticket_ids must be comma-separated numbers.") from exc


class CancellationController(Controller):
    path = "/api/v1"
    guards = [requires_role("staff")]

    @get("/orders/{code:str}/cancellation-quote")
    async def quote(
        self,
        code: FromPath[str],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        ticket_ids: FromQuery[str | None] = None,
        waive_fee: FromQuery[bool] = False,
    ) -> QuoteOut:
        order = await load_order(db_session, tenant, code)
        return quote_out(order.code, quote(tenant, order, _ids(ticket_ids), waive_fee=waive_fee))

    @post(
        "/orders/{code:str}/cancel",
        status_code=HTTP_200_OK,
        # Waiving the fee departs from the policy: managers only.
        guards=[
            requires_role_to_set(
                "waive_fee",
                "manager",
                "Waiving the cancellation fee needs the manager role.",
                "キャンセル料の免除にはマネージャー権限が必要です。",
            )
        ],
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        data: JSONBody[CancelIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> CancellationOut:
        key = (request.headers.get("idempotency-key") or "").strip()
        if not key or len(key) > 80:
            raise InvalidInput("An Idempotency-Key header (1–80 characters) is required.")
        order = await load_order(db_session, tenant, code)
        outcome = await cancel_tickets(
            db_session,
            tenant,
            order,
            ticket_ids=data.ticket_ids,
            actor=f"staff:{request.user.id}",
            idempotency_key=f"staff:{key}",
            settings=settings,
            reason=data.reason,
            waive_fee=data.waive_fee,
            expected_refund=data.refund_amount,
        )
        await db_session.refresh(order, ["status"])
        return cancellation_out(order.code, order.status, outcome)

    @post("/refunds/{refund_id:int}/retry", status_code=HTTP_200_OK)
    async def retry(
        self,
        request: Request[Any, Any, Any],
        refund_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> RefundOut:
        refund = await send_refund(
            db_session, tenant, refund_id, settings=settings, actor=f"staff:{request.user.id}"
        )
        return refund_out(refund)

    @post("/refunds/{refund_id:int}/paid-out", status_code=HTTP_200_OK)
    async def paid_out(
        self,
        request: Request[Any, Any, Any],
        refund_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> RefundOut:
        return refund_out(
            await mark_paid_out(db_session, tenant, refund_id, f"staff:{request.user.id}")
        )
