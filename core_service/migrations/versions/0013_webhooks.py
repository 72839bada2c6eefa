"""webhooks: endpoints, the event outbox, deliveries and attempts (F18)

Four tenant-owned tables. ``webhook_endpoint`` is part of a facility's cached setup (the
device paths ask the cache which event types have subscribers), so it gets the triggers
of migration 0010 that bump ``facility.config_version`` on every insert, update and
delete: on PostgreSQL through the existing ``kippu_bump_facility_version()``, on SQLite
one trigger per event.

Revision ID: 0013_webhooks
Revises: 0012_job_queue
Create Date: 2026-12-08
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import core_service.models.base

revision: str = "0013_webhooks"
down_revision: str | None = "0012_job_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("webhook_attempt", "webhook_delivery", "webhook_event", "webhook_endpoint")


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = False) -> "sa.Column[Any]":
    return sa.Column(name, core_service.models.base.UTCDateTime(timezone=True), nullable=nullable)


def _owned(table: str) -> list[sa.schema.SchemaItem]:
    """The id and facility_id every tenant table has."""
    return [
        sa.Column("facility_id", _big_id(), nullable=False),
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f(f"fk_{table}_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _link(table: str, column: str, target: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column(column, _big_id(), nullable=False),
        sa.ForeignKeyConstraint(
            [column],
            [f"{target}.id"],
            name=op.f(f"fk_{table}_{column}_{target}"),
            ondelete="CASCADE",
        ),
    ]


def _create_tables() -> None:
    op.create_table(
        "webhook_endpoint",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        *_owned("webhook_endpoint"),
    )
    op.create_table(
        "webhook_event",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _time("created_at"),
        *_owned("webhook_event"),
        sa.UniqueConstraint("uuid", name=op.f("uq_webhook_event_uuid")),
    )
    op.create_table(
        "webhook_delivery",
        *_link("webhook_delivery", "event_id", "webhook_event"),
        *_link("webhook_delivery", "endpoint_id", "webhook_endpoint"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at", nullable=True),
        _time("lease_until", nullable=True),
        _time("last_attempt_at", nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=False),
        _time("delivered_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        *_owned("webhook_delivery"),
        sa.UniqueConstraint(
            "event_id", "endpoint_id", name=op.f("uq_webhook_delivery_event_id_endpoint_id")
        ),
    )
    op.create_table(
        "webhook_attempt",
        *_link("webhook_attempt", "delivery_id", "webhook_delivery"),
        sa.Column("number", sa.Integer(), nullable=False),
        _time("started_at"),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=False),
        *_owned("webhook_attempt"),
        sa.UniqueConstraint(
            "delivery_id", "number", name=op.f("uq_webhook_attempt_delivery_id_number")
        ),
    )


def _create_indexes() -> None:
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_facility_id"), table, ["facility_id"])
    for table in ("webhook_endpoint", "webhook_delivery"):
        op.create_index(op.f(f"ix_{table}_created_at"), table, ["created_at"])
        op.create_index(op.f(f"ix_{table}_updated_at"), table, ["updated_at"])
    op.create_index(op.f("ix_webhook_event_created_at"), "webhook_event", ["created_at"])
    op.create_index(op.f("ix_webhook_delivery_event_id"), "webhook_delivery", ["event_id"])
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_delivery_queue", "webhook_delivery", ["endpoint_id", "status", "event_id"]
    )


def upgrade() -> None:
    _create_tables()
    _create_indexes()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER webhook_endpoint_bumps_facility_version"
            " AFTER INSERT OR UPDATE OR DELETE ON webhook_endpoint"
            " FOR EACH ROW EXECUTE FUNCTION kippu_bump_facility_version()"
        )
        return
    bump = "UPDATE facility SET config_version = config_version + 1 WHERE id = {}.facility_id;"
    for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
        body = " ".join(bump.format(row) for row in rows)
        op.execute(
            f"CREATE TRIGGER webhook_endpoint_{event.lower()}_bumps_facility_version"
            f" AFTER {event} ON webhook_endpoint BEGIN {body} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER webhook_endpoint_bumps_facility_version ON webhook_endpoint")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER webhook_endpoint_{event}_bumps_facility_version")
    for table in TABLES:
        op.drop_table(table)
