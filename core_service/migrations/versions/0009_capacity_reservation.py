"""capacity reservations taken before the order is written; passes used up by old gates

``capacity_reservation`` rows are the receipts of places taken by one autocommitted
statement before the order transaction (see ``core_service.catalog.reservations``).

Data fix: before annual passes admitted once a day, a gate scan used a pass up like a
single ticket (status "used", no uses left). Such passes are valid again.

Revision ID: 0009_capacity_reservation
Revises: 0008_staff_login_failures
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0009_capacity_reservation"
down_revision: str | None = "0008_staff_login_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "capacity_reservation",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("facility_id", BigId, nullable=False),
        sa.Column("capacity_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("counter", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_capacity_reservation_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["capacity_id"],
            ["capacity.id"],
            name=op.f("fk_capacity_reservation_capacity_id_capacity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_reservation")),
    )
    with op.batch_alter_table("capacity_reservation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capacity_reservation_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_capacity_reservation_capacity_id"), ["capacity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_capacity_reservation_created_at"), ["created_at"], unique=False
        )
    op.execute(
        "UPDATE ticket SET status = 'valid', uses_left = uses_total"
        " WHERE status = 'used'"
        " AND product_id IN (SELECT id FROM product WHERE kind = 'annual_pass')"
    )


def downgrade() -> None:
    with op.batch_alter_table("capacity_reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capacity_reservation_created_at"))
        batch_op.drop_index(batch_op.f("ix_capacity_reservation_capacity_id"))
        batch_op.drop_index(batch_op.f("ix_capacity_reservation_facility_id"))
    op.drop_table("capacity_reservation")
