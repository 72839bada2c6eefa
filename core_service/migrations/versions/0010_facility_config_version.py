"""facility.config_version: bumped by triggers whenever a facility's setup changes

Device requests (kiosk sales, gate scans) read the facility, its enabled plugins and
its price categories on every call. Each worker keeps them in memory
(``core_service.platform.tenant_cache``) and checks, with the device-token lookup it makes
anyway, that ``facility.config_version`` has not moved. Triggers, not application
code, bump the version, so no writer (the ORM, a bulk UPDATE, a migration, psql) can
change a price or a plugin option without the caches noticing on the next request.

Revision ID: 0010_facility_config_version
Revises: 0009_capacity_reservation
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_facility_config_version"
down_revision: str | None = "0009_capacity_reservation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose rows are part of a facility's cached setup.
WATCHED = ("facility_plugin", "product", "price_category")

_POSTGRES_FUNCTIONS = (
    """
CREATE FUNCTION kippu_bump_facility_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE facility SET config_version = config_version + 1 WHERE id = OLD.facility_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE facility SET config_version = config_version + 1 WHERE id = NEW.facility_id;
  END IF;
  RETURN NULL;
END $$
""",
    """
CREATE FUNCTION kippu_bump_own_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.config_version := OLD.config_version + 1;
  RETURN NEW;
END $$
""",
)  # one statement each: asyncpg prepares what it sends


def upgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_version", sa.BigInteger(), server_default="1", nullable=False)
        )
    if op.get_bind().dialect.name == "postgresql":
        for function in _POSTGRES_FUNCTIONS:
            op.execute(function)
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_bumps_facility_version"
                f" AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION kippu_bump_facility_version()"
            )
        # A change of the facility row itself, unless it is the bump above.
        op.execute(
            "CREATE TRIGGER facility_bumps_own_version BEFORE UPDATE ON facility FOR EACH ROW"
            " WHEN (OLD.config_version = NEW.config_version)"
            " EXECUTE FUNCTION kippu_bump_own_version()"
        )
        return
    # SQLite: no trigger functions, one trigger per table and event.
    bump = "UPDATE facility SET config_version = config_version + 1 WHERE id = {}.facility_id;"
    for table in WATCHED:
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            body = " ".join(bump.format(row) for row in rows)
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_bumps_facility_version"
                f" AFTER {event} ON {table} BEGIN {body} END"
            )
    op.execute(
        "CREATE TRIGGER facility_bumps_own_version AFTER UPDATE ON facility"
        " WHEN OLD.config_version = NEW.config_version BEGIN"
        " UPDATE facility SET config_version = OLD.config_version + 1 WHERE id = NEW.id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_bumps_facility_version ON {table}")
        op.execute("DROP TRIGGER facility_bumps_own_version ON facility")
        op.execute("DROP FUNCTION kippu_bump_facility_version()")
        op.execute("DROP FUNCTION kippu_bump_own_version()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_{event}_bumps_facility_version")
        op.execute("DROP TRIGGER facility_bumps_own_version")
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_column("config_version")
