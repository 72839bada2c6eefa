"""payment outcomes as states: the JSON flags in payment.data become refund_due

Before, ``confirm_payment`` recorded what a late payment meant as flags that replaced
``payment.data``: ``{"needs_refund": true, "reason": "order expired"}`` for money that
paid nothing, ``{"reacquired": true}`` for a payment that took its places again after the
hold had expired; money for an attempt already failed was only a ``paid_after_failure``
note among its events. Now money that paid nothing is the payment state ``refund_due``
(its cause in the event of the move), and "re-acquired" is read from the paid event
(``order_from: expired``). This moves existing rows:

- a paid payment flagged ``needs_refund`` → ``refund_due``, with an event giving the cause;
- a failed payment with a ``paid_after_failure`` note → ``refund_due`` (cause
  ``paid_after_failure``), with an event;
- a payment flagged ``reacquired`` gets a note event with ``order_from: expired``;

and removes the flags from ``payment.data``. Data only: the schema does not change. Every moved row's ``updated_at`` moves too, so
the next export writes its new version.
Reconciliation then gives the money of every ``refund_due`` payment back at the
provider (a provider refuses to refund a payment that a person refunded by hand).

Revision ID: 0011_payment_refund_due
Revises: 0010_facility_config_version
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0011_payment_refund_due"
down_revision: str | None = "0010_facility_config_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MIGRATED = "0011_payment_refund_due"
#: The old flag's reason (``f"order {order.status}"``) and the cause it stands for.
CAUSES = {
    "order expired": "sold_out",
    "order paid": "order_paid",
    "order cancelled": "order_cancelled",
}
FLAGS = ("needs_refund", "reason", "reacquired")

payment = sa.table(
    "payment",
    sa.column("id", sa.BigInteger),
    sa.column("facility_id", sa.BigInteger),
    sa.column("state", sa.String),
    sa.column("data", sa.JSON),
    sa.column("updated_at", core_service.models.base.UTCDateTime(timezone=True)),
)
payment_event = sa.table(
    "payment_event",
    sa.column("id", sa.BigInteger),
    sa.column("facility_id", sa.BigInteger),
    sa.column("payment_id", sa.BigInteger),
    sa.column("at", core_service.models.base.UTCDateTime(timezone=True)),
    sa.column("from_state", sa.String),
    sa.column("to_state", sa.String),
    sa.column("detail", sa.JSON),
)


def _mentioning(column: Any, word: str) -> Any:
    # The JSON text, on both backends: only rows that can hold the key are read.
    return sa.cast(column, sa.Text).like(f"%{word}%")


def _event(
    facility_id: int, payment_id: int, source: str, target: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "facility_id": facility_id,
        "payment_id": payment_id,
        "at": datetime.now(UTC),
        "from_state": source,
        "to_state": target,
        "detail": {**detail, "migrated": MIGRATED},
    }


def upgrade() -> None:
    bind = op.get_bind()
    events: list[dict[str, Any]] = []
    flagged = bind.execute(
        sa.select(payment.c.id, payment.c.facility_id, payment.c.state, payment.c.data).where(
            sa.or_(
                _mentioning(payment.c.data, "needs_refund"),
                _mentioning(payment.c.data, "reacquired"),
            )
        )
    ).all()
    for payment_id, facility_id, state, data in flagged:
        data = dict(data or {})
        state_now = state
        if data.get("needs_refund") and state == "paid":
            reason = str(data.get("reason", ""))
            cause = CAUSES.get(reason, reason or "order_paid")
            state_now = "refund_due"
            events.append(_event(facility_id, payment_id, "paid", "refund_due", {"cause": cause}))
        elif data.get("reacquired") and state == "paid":
            events.append(
                _event(
                    facility_id,
                    payment_id,
                    "paid",
                    "paid",
                    {"note": "reacquired", "order_from": "expired"},
                )
            )
        rest = {k: v for k, v in data.items() if k not in FLAGS}
        bind.execute(
            sa.update(payment)
            .where(payment.c.id == payment_id)
            .values(state=state_now, data=rest, updated_at=datetime.now(UTC))
        )
    paid_after_failure = bind.execute(
        sa.select(payment.c.id, payment.c.facility_id)
        .where(
            payment.c.state == "failed",
            payment.c.id.in_(
                sa.select(payment_event.c.payment_id).where(
                    _mentioning(payment_event.c.detail, "paid_after_failure")
                )
            ),
        )
        .order_by(payment.c.id)
    ).all()
    for payment_id, facility_id in paid_after_failure:
        bind.execute(
            sa.update(payment)
            .where(payment.c.id == payment_id)
            .values(state="refund_due", updated_at=datetime.now(UTC))
        )
        events.append(
            _event(facility_id, payment_id, "failed", "refund_due", {"cause": "paid_after_failure"})
        )
    if events:
        bind.execute(sa.insert(payment_event), events)


def downgrade() -> None:
    """refund_due (and refunding) back to the flags; re-acquired payments flagged again."""
    bind = op.get_bind()
    owed = bind.execute(
        sa.select(payment.c.id, payment.c.data).where(
            payment.c.state.in_(("refund_due", "refunding"))
        )
    ).all()
    reasons = {cause: reason for reason, cause in CAUSES.items()}
    for payment_id, data in owed:
        detail = bind.execute(
            sa.select(payment_event.c.detail)
            .where(
                payment_event.c.payment_id == payment_id,
                payment_event.c.to_state == "refund_due",
                payment_event.c.from_state != "refunding",
            )
            .order_by(payment_event.c.id.desc())
            .limit(1)
        ).scalar()
        cause = str((detail or {}).get("cause", ""))
        if cause == "paid_after_failure":
            values: dict[str, Any] = {"state": "failed"}
        else:
            flags = {"needs_refund": True, "reason": reasons.get(cause, cause)}
            values = {"state": "paid", "data": {**(data or {}), **flags}}
        values["updated_at"] = datetime.now(UTC)
        bind.execute(sa.update(payment).where(payment.c.id == payment_id).values(**values))
    paid_events = bind.execute(
        sa.select(payment.c.id, payment.c.data, payment_event.c.detail)
        .join(payment_event, payment_event.c.payment_id == payment.c.id)
        .where(
            payment.c.state == "paid",
            payment_event.c.to_state == "paid",
            _mentioning(payment_event.c.detail, "order_from"),
        )
        .order_by(payment.c.id)
    ).all()
    done: set[int] = set()
    for payment_id, data, detail in paid_events:
        if payment_id in done or (detail or {}).get("order_from") != "expired":
            continue
        done.add(payment_id)
        bind.execute(
            sa.update(payment)
            .where(payment.c.id == payment_id)
            .values(data={**(data or {}), "reacquired": True}, updated_at=datetime.now(UTC))
        )
