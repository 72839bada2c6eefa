"""issue 17.7 (A4): vouchers (discount codes)

- ``voucher``: a facility's discount codes (percent or fixed yen), their products,
  limits, validity and the uses counted.
- ``orders.voucher_id``, ``voucher_code``, ``discount`` and ``order_line.discount``:
  which code an order used and the yen it took off (totals are after the discount).

Revision ID: 0025_vouchers
Revises: 0024_platform_operator
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0025_vouchers"
down_revision: str | None = "0024_platform_operator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("valid_from", core_service.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "valid_until", core_service.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
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
        sa.CheckConstraint(
            "kind <> 'percent' OR value <= 100", name=op.f("ck_voucher_percent_at_most_100")
        ),
        sa.CheckConstraint("kind IN ('percent', 'fixed')", name=op.f("ck_voucher_kind")),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_voucher_uses_not_negative")),
        sa.CheckConstraint("value >= 1", name=op.f("ck_voucher_value_positive")),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_voucher_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher")),
        sa.UniqueConstraint("facility_id", "code", name=op.f("uq_voucher_facility_id_code")),
    )
    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_voucher_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_voucher_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("discount", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "voucher_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("voucher_code", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("discount", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_voucher_id_voucher"),
            "voucher",
            ["voucher_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_voucher_id_voucher"), type_="foreignkey")
        batch_op.drop_column("discount")
        batch_op.drop_column("voucher_code")
        batch_op.drop_column("voucher_id")

    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_column("discount")

    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_updated_at"))
        batch_op.drop_index(batch_op.f("ix_voucher_facility_id"))
        batch_op.drop_index(batch_op.f("ix_voucher_created_at"))

    op.drop_table("voucher")
