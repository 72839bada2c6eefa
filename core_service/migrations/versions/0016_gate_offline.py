"""issue 15: offline gate scans and the conflicts they reveal

- ``offline_scan``: each scan a gate decided offline and uploaded, unique per device
  and nonce (a re-upload never counts twice).
- ``gate_conflict``: an offline admission the server could not make (used twice,
  cancelled, handed on), listed for staff.

Revision ID: 0016_gate_offline
Revises: 0015_login_attempts_sessions
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0016_gate_offline"
down_revision: str | None = "0015_login_attempts_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = core_service.models.base.BigId
UTC = core_service.models.base.UTCDateTime
#: The tables the exporter reads (kippu_contract.export_schema.TABLES' sources).
EXPORTED = (
    "facility",
    "product",
    "customer",
    "orders",
    "order_line",
    "ticket",
    "checkin",
    "payment",
    "refund",
    "device",
)


def upgrade() -> None:
    for table in EXPORTED:
        # A plain ADD COLUMN (SQLite allows it with a constant default): a batch copy of
        # the table would trip the triggers on facility_plugin.
        op.add_column(
            table,
            sa.Column("export_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
        op.create_index(op.f(f"ix_{table}_export_seq"), table, ["export_seq"])
    op.create_table(
        "offline_scan",
        sa.Column("device_id", BigId, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("scanned_at", UTC(), nullable=False),
        sa.Column("offline_result", sa.String(length=24), nullable=False),
        sa.Column("uploaded_at", UTC(), nullable=False),
        sa.Column("checkin_id", BigId, nullable=True),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("facility_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
            name=op.f("fk_offline_scan_checkin_id_checkin"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
            name=op.f("fk_offline_scan_device_id_device"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_offline_scan_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_offline_scan_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_scan")),
        sa.UniqueConstraint("device_id", "nonce", name=op.f("uq_offline_scan_device_id_nonce")),
    )
    op.create_index(op.f("ix_offline_scan_facility_id"), "offline_scan", ["facility_id"])
    op.create_index(op.f("ix_offline_scan_ticket_id"), "offline_scan", ["ticket_id"])
    op.create_table(
        "gate_conflict",
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("offline_scan_id", BigId, nullable=False),
        sa.Column("earlier_checkin_id", BigId, nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("detected_at", UTC(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("facility_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["earlier_checkin_id"],
            ["checkin.id"],
            name=op.f("fk_gate_conflict_earlier_checkin_id_checkin"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_gate_conflict_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offline_scan_id"],
            ["offline_scan.id"],
            name=op.f("fk_gate_conflict_offline_scan_id_offline_scan"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_gate_conflict_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_conflict")),
        sa.UniqueConstraint("offline_scan_id", name=op.f("uq_gate_conflict_offline_scan_id")),
    )
    op.create_index(op.f("ix_gate_conflict_detected_at"), "gate_conflict", ["detected_at"])
    op.create_index(op.f("ix_gate_conflict_facility_id"), "gate_conflict", ["facility_id"])
    op.create_index(op.f("ix_gate_conflict_ticket_id"), "gate_conflict", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("gate_conflict")
    op.drop_table("offline_scan")
    for table in EXPORTED:
        op.drop_index(op.f(f"ix_{table}_export_seq"), table_name=table)
        # A plain DROP COLUMN (SQLite 3.35+), for the same reason as in upgrade().
        op.drop_column(table, "export_seq")
