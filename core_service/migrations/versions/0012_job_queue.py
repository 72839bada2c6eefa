"""the job queue: procrastinate's tables and functions (PostgreSQL only)

PostgreSQL deployments run their background jobs on procrastinate (docs/jobs.md), whose
queue lives in the same database. Its schema is procrastinate's own SQL, applied here so
that ``kippu db upgrade`` stays the only way the schema is made; SQLite (the embedded
default, whose jobs run in-process) gets nothing.

Upgrading procrastinate past a release that changes its schema needs a new migration here
that applies procrastinate's migration scripts (``procrastinate/sql/migrations``) for
those releases; pyproject pins procrastinate to one minor version for that reason.

Revision ID: 0012_job_queue
Revises: 0011_payment_refund_due
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.util import await_only

revision: str = "0012_job_queue"
down_revision: str | None = "0011_payment_refund_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _execute_script(sql: str) -> None:
    # The script holds many statements and PL/pgSQL bodies: asyncpg runs it whole through
    # the simple query protocol (a prepared statement takes one command only), inside
    # the migration's transaction.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(sql))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    _execute_script(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _execute_script(
        """
        DO $$
        DECLARE r record;
        BEGIN
          FOR r IN SELECT tablename FROM pg_tables
                   WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%'
          LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename); END LOOP;
          FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
          LOOP EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.fn); END LOOP;
          FOR r IN SELECT t.typname FROM pg_type t
                   JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                     AND t.typtype IN ('e', 'c')
          LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname); END LOOP;
        END $$;
        """
    )
