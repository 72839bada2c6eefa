"""issue 17.1: platform operators, who create facilities without Python

- ``platform_operator``: deployment-level accounts (no facility_id), made by
  ``kippu platform operator add``; they log in at ``/api/v1/platform/login``.

Revision ID: 0024_platform_operator
Revises: 0023_gate_rules
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0024_platform_operator"
down_revision: str | None = "0023_gate_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_operator",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", core_service.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", core_service.models.base.BigId, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_operator")),
        sa.UniqueConstraint("email", name=op.f("uq_platform_operator_email")),
    )
    with op.batch_alter_table("platform_operator", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_platform_operator_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_platform_operator_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("platform_operator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_operator_updated_at"))
        batch_op.drop_index(batch_op.f("ix_platform_operator_created_at"))
    op.drop_table("platform_operator")
