"""issue 17.5 (F19): time-based stays charged by the time spent inside

- ``product``: the stay rate (``stay_unit_minutes``, ``stay_unit_price``,
  ``stay_daily_cap``, ``stay_free_minutes``); only ``time_stay`` products read it.
- ``stay_visit``: the clock a stay ticket's entry starts, closed by the exit.
- ``stay_charge``: each paid-for charge of a stay and the order that carries it.

Revision ID: 0022_stays
Revises: 0021_billing
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0022_stays"
down_revision: str | None = "0021_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The stay rate on ``product``: (column, server default).
_RATE_COLUMNS = (
    ("stay_unit_minutes", "30"),
    ("stay_unit_price", "0"),
    ("stay_daily_cap", "0"),
    ("stay_free_minutes", "0"),
)


def upgrade() -> None:
    op.create_table(
        "stay_visit",
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "entered_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("exited_at", core_service.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "facility_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "created_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_stay_visit_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_stay_visit_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_visit")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_stay_visit_ticket_id")),
    )
    with op.batch_alter_table("stay_visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stay_visit_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stay_visit_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stay_visit_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "stay_charge",
        sa.Column(
            "stay_visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("period_total", sa.Integer(), nullable=False),
        sa.Column(
            "computed_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "facility_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_stay_charge_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_stay_charge_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stay_visit_id"],
            ["stay_visit.id"],
            name=op.f("fk_stay_charge_stay_visit_id_stay_visit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_charge")),
        sa.UniqueConstraint("order_id", name=op.f("uq_stay_charge_order_id")),
    )
    with op.batch_alter_table("stay_charge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stay_charge_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stay_charge_stay_visit_id"), ["stay_visit_id"], unique=False
        )

    # Plain ALTER TABLE, not batch mode: on SQLite a batch recreates the table, which
    # would drop product's tenant-cache triggers (0010_facility_config_version).
    for name, default in _RATE_COLUMNS:
        op.add_column(
            "product",
            sa.Column(name, sa.Integer(), server_default=sa.text(default), nullable=False),
        )


def downgrade() -> None:
    for name, _ in reversed(_RATE_COLUMNS):
        # SQLite 3.35+ drops a column in place, keeping the table's triggers.
        op.execute(f"ALTER TABLE product DROP COLUMN {name}")

    with op.batch_alter_table("stay_charge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stay_charge_stay_visit_id"))
        batch_op.drop_index(batch_op.f("ix_stay_charge_facility_id"))

    op.drop_table("stay_charge")
    with op.batch_alter_table("stay_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stay_visit_updated_at"))
        batch_op.drop_index(batch_op.f("ix_stay_visit_facility_id"))
        batch_op.drop_index(batch_op.f("ix_stay_visit_created_at"))

    op.drop_table("stay_visit")
