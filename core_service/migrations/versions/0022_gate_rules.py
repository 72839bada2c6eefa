"""issue 17.3: the check-in rules a park runs by, per product

- ``product.reentry_after_exit``: a day ticket may enter again after an admitted exit.
- ``product.rides_use_ticket``: a ride scan uses a day ticket (off: it admits without a use).
- ``product.slot_grace_minutes``: how early and how late a timed ticket may enter.

Revision ID: 0022_gate_rules
Revises: 0021_billing
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_gate_rules"
down_revision: str | None = "0021_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product") as batch:
        batch.add_column(
            sa.Column("reentry_after_exit", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("rides_use_ticket", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("slot_grace_minutes", sa.Integer(), server_default="30", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("product") as batch:
        batch.drop_column("slot_grace_minutes")
        batch.drop_column("rides_use_ticket")
        batch.drop_column("reentry_after_exit")
