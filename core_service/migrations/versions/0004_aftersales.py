"""after-sales: ticket distribution, cancellations, refunds, receipts

Revision ID: 0004_aftersales
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0004_aftersales"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancellation",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("self_service", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_ids", sa.JSON(), nullable=False),
        sa.Column("base_total", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("handling_fee_kept", sa.Integer(), nullable=False),
        sa.Column("refund_amount", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
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
            name=op.f("fk_cancellation_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_cancellation_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellation")),
        sa.UniqueConstraint(
            "facility_id",
            "idempotency_key",
            name=op.f("uq_cancellation_facility_id_idempotency_key"),
        ),
    )

    with op.batch_alter_table("cancellation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cancellation_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cancellation_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cancellation_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cancellation_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "receipt",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("addressee", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reissue", sa.Boolean(), nullable=False),
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
            name=op.f("fk_receipt_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_receipt_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt")),
        sa.UniqueConstraint("facility_id", "number", name=op.f("uq_receipt_facility_id_number")),
    )

    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "refund",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "cancellation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column(
            "refunded_at", core_service.models.base.UTCDateTime(timezone=True), nullable=True
        ),
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
            ["cancellation_id"],
            ["cancellation.id"],
            name=op.f("fk_refund_cancellation_id_cancellation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_refund_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refund_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payment.id"],
            name=op.f("fk_refund_payment_id_payment"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
        sa.UniqueConstraint("cancellation_id", name=op.f("uq_refund_cancellation_id")),
        sa.UniqueConstraint(
            "facility_id", "idempotency_key", name=op.f("uq_refund_facility_id_idempotency_key")
        ),
    )

    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "ticket_transfer",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("claim_key", sa.String(length=64), nullable=False),
        sa.Column("holder_key", sa.String(length=64), nullable=True),
        sa.Column("recipient_email", sa.String(length=254), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", core_service.models.base.UTCDateTime(timezone=True), nullable=True),
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
            name=op.f("fk_ticket_transfer_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_ticket_transfer_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ticket_transfer_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_transfer")),
        sa.UniqueConstraint("claim_key", name=op.f("uq_ticket_transfer_claim_key")),
        sa.UniqueConstraint("holder_key", name=op.f("uq_ticket_transfer_holder_key")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_ticket_transfer_ticket_id")),
    )

    with op.batch_alter_table("ticket_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_transfer_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ticket_transfer_facility_id"), ["facility_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ticket_transfer_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_transfer_updated_at"))
        batch_op.drop_index(batch_op.f("ix_ticket_transfer_facility_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_transfer_created_at"))

    op.drop_table("ticket_transfer")

    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_updated_at"))
        batch_op.drop_index(batch_op.f("ix_refund_state"))
        batch_op.drop_index(batch_op.f("ix_refund_order_id"))
        batch_op.drop_index(batch_op.f("ix_refund_facility_id"))
        batch_op.drop_index(batch_op.f("ix_refund_created_at"))

    op.drop_table("refund")

    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_updated_at"))
        batch_op.drop_index(batch_op.f("ix_receipt_order_id"))
        batch_op.drop_index(batch_op.f("ix_receipt_facility_id"))
        batch_op.drop_index(batch_op.f("ix_receipt_created_at"))

    op.drop_table("receipt")

    with op.batch_alter_table("cancellation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cancellation_updated_at"))
        batch_op.drop_index(batch_op.f("ix_cancellation_order_id"))
        batch_op.drop_index(batch_op.f("ix_cancellation_facility_id"))
        batch_op.drop_index(batch_op.f("ix_cancellation_created_at"))

    op.drop_table("cancellation")
