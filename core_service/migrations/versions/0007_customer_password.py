"""customers: optional My Page password and failed-login timestamps for throttling

Revision ID: 0007_customer_password
Revises: 0005_coupon_tear_off
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_customer_password"
down_revision: str | Sequence[str] | None = "0005_coupon_tear_off"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both nullable: existing customers simply have no password and no failures.
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("password_failures", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("password_failures")
        batch_op.drop_column("password_hash")
