"""coupon books: tear-off coupons (one QR per ride) as a per-product choice

Also merges the three heads (0002 workbench, 0003 catalog, 0004 after-sales), which
all branched from 0001 and touch different tables.

Revision ID: 0005_coupon_tear_off
Revises: 0002, 0003_catalog, 0004_aftersales
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_coupon_tear_off"
down_revision: str | Sequence[str] | None = ("0002", "0003_catalog", "0004_aftersales")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("coupon_tear_off", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("coupon_tear_off")
