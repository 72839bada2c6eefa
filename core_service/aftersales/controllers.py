"""Staff API for cancellations and refunds (F6, F7).

Roles: every ``staff`` member (and above) may quote and cancel an order or single tickets
of it under the facility's policy, retry a failed refund and record an in-person payout:
this is box-office work. Waiving the cancellation fee departs from the policy, so it
needs ``manager``. Nobody may choose a refund amount: a request may state the amount it
expects, and is refused when that is not the policy's (no arbitrary partial refunds).
Anyone on staff may list the refunds (``GET /api/v1/refunds?state=failed``: what the
automatic retries, :mod:`.refund_retries`, could not send). Cancelling needs an ``Idempotency-Key`` header, so a retried request never refunds twice.
The work behind each route is :mod:`core_service.aftersales.box_office`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.box_office import (
    parse_ticket_ids,
    staff_cancel,
    staff_list_refunds,
    staff_paid_out,
    staff_quote,
    staff_retry_refund,
)
from core_service.aftersales.schemas import CancelIn, CancellationOut, QuoteOut, RefundOut
from core_service.platform.errors import InvalidInput
from core_service.platform.guards import requires_role, requires_role_to_set
from core_service.platform.principals import StaffPrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant

StaffRequest = Request[StaffPrincipal, Any, Any]

#: Longest Idempotency-Key accepted; it is stored with the cancellation.
MAX_KEY_LENGTH = 80


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
        return await staff_quote(
            db_session, tenant, code, parse_ticket_ids(ticket_ids), waive_fee=waive_fee
        )

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
        request: StaffRequest,
        code: FromPath[str],
        data: JSONBody[CancelIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> CancellationOut:
        key = (request.headers.get("idempotency-key") or "").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidInput("An Idempotency-Key header (1–80 characters) is required.")
        return await staff_cancel(
            db_session,
            tenant,
            code,
            data,
            staff_id=request.user.id,
            idempotency_key=key,
            settings=settings,
        )

    @get("/refunds")
    async def refunds(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        # "state" is a name Litestar reserves for the app state: renamed, same query key.
        refund_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[RefundOut]:
        """The facility's refunds, newest first (``?state=failed``: the ones to look at)."""
        return await staff_list_refunds(db_session, tenant, state=refund_state, limit=limit)

    @post("/refunds/{refund_id:int}/retry", status_code=HTTP_200_OK)
    async def retry(
        self,
        request: StaffRequest,
        refund_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> RefundOut:
        return await staff_retry_refund(
            db_session, tenant, refund_id, staff_id=request.user.id, settings=settings
        )

    @post("/refunds/{refund_id:int}/paid-out", status_code=HTTP_200_OK)
    async def paid_out(
        self,
        request: StaffRequest,
        refund_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> RefundOut:
        return await staff_paid_out(db_session, tenant, refund_id, staff_id=request.user.id)
