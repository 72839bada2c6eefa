"""issue 17.6 (F26): facility plans and monthly system-fee statements

- ``facility_plan``: the plan and monthly fee (before tax) of a facility from a date on.
- ``system_fee_statement``: one issued statement per facility and month, kept as issued.

Revision ID: 0021_billing
Revises: 0020_self_cancel_setting
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0021_billing"
down_revision: str | None = "0020_self_cancel_setting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facility_plan",
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("monthly_fee", sa.Integer(), nullable=False),
        sa.Column("tax_rate", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
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
            name=op.f("fk_facility_plan_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_plan")),
        sa.UniqueConstraint(
            "facility_id", "valid_from", name=op.f("uq_facility_plan_facility_id_valid_from")
        ),
    )
    with op.batch_alter_table("facility_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_facility_plan_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_facility_plan_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_facility_plan_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "system_fee_statement",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("subtotal", sa.Integer(), nullable=False),
        sa.Column("tax_rate", sa.Integer(), nullable=False),
        sa.Column("tax", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("issued_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False),
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
            name=op.f("fk_system_fee_statement_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_fee_statement")),
        sa.UniqueConstraint(
            "facility_id", "month", name=op.f("uq_system_fee_statement_facility_id_month")
        ),
        sa.UniqueConstraint("number", name=op.f("uq_system_fee_statement_number")),
    )
    with op.batch_alter_table("system_fee_statement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_system_fee_statement_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_system_fee_statement_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_system_fee_statement_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("system_fee_statement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_fee_statement_updated_at"))
        batch_op.drop_index(batch_op.f("ix_system_fee_statement_facility_id"))
        batch_op.drop_index(batch_op.f("ix_system_fee_statement_created_at"))

    op.drop_table("system_fee_statement")
    with op.batch_alter_table("facility_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facility_plan_updated_at"))
        batch_op.drop_index(batch_op.f("ix_facility_plan_facility_id"))
        batch_op.drop_index(batch_op.f("ix_facility_plan_created_at"))

    op.drop_table("facility_plan")
