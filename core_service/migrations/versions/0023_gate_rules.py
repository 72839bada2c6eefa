"""issue 17.3: the check-in rules a park runs by, per product

- ``product.reentry_after_exit``: a day ticket may enter again after an admitted exit.
- ``product.rides_use_ticket``: a ride scan uses a day ticket (off: it admits without a use).
- ``product.slot_grace_minutes``: how early and how late a timed ticket may enter.

Revision ID: 0023_gate_rules
Revises: 0022_stays
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_gate_rules"
down_revision: str | None = "0022_stays"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("reentry_after_exit", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("rides_use_ticket", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("slot_grace_minutes", sa.Integer(), server_default=sa.text("30"), nullable=False),
    ]


def upgrade() -> None:
    for column in _columns():
        # A plain ADD COLUMN (SQLite allows it with a constant default): a batch copy of
        # the table would drop product's triggers (0010_facility_config_version).
        op.add_column("product", column)


def downgrade() -> None:
    for column in reversed(_columns()):
        # A plain DROP COLUMN (SQLite 3.35+), for the same reason as in upgrade().
        op.drop_column("product", column.name)
