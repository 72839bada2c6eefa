"""issue 18: one pending payment attempt per order

- ``payment``: a partial unique index on ``order_id`` where ``state = 'pending'``, so a
  double click cannot open two payable attempts for one checkout. Orders that already
  have several pending attempts keep the newest one (the one the checkout continues);
  the others become ``failed`` with an event saying why. If one of them is paid after
  all, its money is owed back like any attempt given up (``paid_after_failure``).

Revision ID: 0014_issue18_fixes
Revises: 0013_webhooks
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0014_issue18_fixes"
down_revision: str | None = "0013_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MIGRATED = "0014_issue18_fixes"
ONE_PENDING_INDEX = "uq_payment_one_pending_per_order"
PENDING = sa.text("state = 'pending'")

payment = sa.table(
    "payment",
    sa.column("id", sa.BigInteger),
    sa.column("facility_id", sa.BigInteger),
    sa.column("order_id", sa.BigInteger),
    sa.column("state", sa.String),
    sa.column("updated_at", core_service.models.base.UTCDateTime(timezone=True)),
)
payment_event = sa.table(
    "payment_event",
    sa.column("facility_id", sa.BigInteger),
    sa.column("payment_id", sa.BigInteger),
    sa.column("at", core_service.models.base.UTCDateTime(timezone=True)),
    sa.column("from_state", sa.String),
    sa.column("to_state", sa.String),
    sa.column("detail", sa.JSON),
)


def _fail_all_but_the_newest_pending_attempt() -> None:
    bind = op.get_bind()
    newest = (
        sa.select(sa.func.max(payment.c.id))
        .where(payment.c.state == "pending")
        .group_by(payment.c.order_id)
    )
    superseded = bind.execute(
        sa.select(payment.c.id, payment.c.facility_id)
        .where(payment.c.state == "pending", payment.c.id.not_in(newest))
        .order_by(payment.c.id)
    ).all()
    now = datetime.now(UTC)
    if superseded:
        bind.execute(
            sa.update(payment)
            .where(payment.c.id.in_([payment_id for payment_id, _ in superseded]))
            .values(state="failed", updated_at=now)
        )
        reason = "superseded: one pending attempt per order"
        bind.execute(
            sa.insert(payment_event),
            [
                {
                    "facility_id": facility_id,
                    "payment_id": payment_id,
                    "at": now,
                    "from_state": "pending",
                    "to_state": "failed",
                    "detail": {"reason": reason, "migrated": MIGRATED},
                }
                for payment_id, facility_id in superseded
            ],
        )


def upgrade() -> None:
    _fail_all_but_the_newest_pending_attempt()
    op.create_index(
        ONE_PENDING_INDEX,
        "payment",
        ["order_id"],
        unique=True,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    """Drops the index; attempts failed by the upgrade stay failed."""
    op.drop_index(ONE_PENDING_INDEX, table_name="payment")
