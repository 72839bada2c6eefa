"""issue 18 (1, 5) and 16: login throttling per address, revocable sessions

- ``login_attempt``: failed (and in-flight) password attempts per client address and
  login, replacing the failure lists on ``staff_user.login_failures`` and
  ``customer.password_failures``, which paused an account for everyone (anyone could
  lock a manager out). Recent failures are not carried over: they only paused logins
  for 15 minutes.
- ``staff_user.token_version`` and ``customer.session_version``: staff tokens and My
  Page cookies carry the version they were issued under, so logging out (and, for My
  Page, changing the password) ends them.

Revision ID: 0015_login_attempts_sessions
Revises: 0014_issue18_fixes
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0015_login_attempts_sessions"
down_revision: str | None = "0014_issue18_fixes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempt",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("login_key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("id", core_service.models.base.BigId, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index("ix_login_attempt_address_at", "login_attempt", ["address", "at"])
    op.create_index("ix_login_attempt_login_key_address", "login_attempt", ["login_key", "address"])
    op.create_index(op.f("ix_login_attempt_at"), "login_attempt", ["at"])
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.drop_column("login_failures")
    with op.batch_alter_table("customer") as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.drop_column("password_failures")


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch_op:
        batch_op.add_column(sa.Column("password_failures", sa.JSON(), nullable=True))
        batch_op.drop_column("session_version")
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(sa.Column("login_failures", sa.JSON(), nullable=True))
        batch_op.drop_column("token_version")
    op.drop_index(op.f("ix_login_attempt_at"), table_name="login_attempt")
    op.drop_index("ix_login_attempt_login_key_address", table_name="login_attempt")
    op.drop_index("ix_login_attempt_address_at", table_name="login_attempt")
    op.drop_table("login_attempt")
