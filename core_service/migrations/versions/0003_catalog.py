# ruff: noqa: E501
"""catalog: time slots, sales windows, closed days, order caps, add-ons, pass holders

Revision ID: 0003_catalog
Revises: 0001
Create Date: 2026-11-25 01:14:30.213276
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0003_catalog"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = core_service.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pass_holder",
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("order_line_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(length=32), nullable=False),
        sa.Column("facility_id", _ID, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_pass_holder_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_pass_holder_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_line.id"],
            name=op.f("fk_pass_holder_order_line_id_order_line"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_pass_holder_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pass_holder")),
        sa.UniqueConstraint(
            "order_line_id", "position", name=op.f("uq_pass_holder_order_line_id_position")
        ),
    )
    with op.batch_alter_table("pass_holder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pass_holder_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pass_holder_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pass_holder_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pass_holder_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slots", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("sale_starts_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("sale_ends_at", _UTC, nullable=True))
        batch_op.add_column(
            sa.Column("closed_dates", sa.JSON(), server_default="[]", nullable=False)
        )
        batch_op.add_column(
            sa.Column("closed_weekdays", sa.JSON(), server_default="[]", nullable=False)
        )
        batch_op.add_column(sa.Column("max_per_order", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("addon_for", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(
            sa.Column(
                "validity_start", sa.String(length=16), server_default="purchase", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("holder_required", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        for column in (
            "holder_required",
            "validity_start",
            "addon_for",
            "max_per_order",
            "closed_weekdays",
            "closed_dates",
            "sale_ends_at",
            "sale_starts_at",
            "slots",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("pass_holder", schema=None) as batch_op:
        for name in ("updated_at", "order_id", "facility_id", "created_at"):
            batch_op.drop_index(batch_op.f(f"ix_pass_holder_{name}"))
    op.drop_table("pass_holder")
