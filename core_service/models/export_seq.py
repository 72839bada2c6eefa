"""``export_seq``: the per-row change sequence the exporter reads increments by (issue 15).

Every exported table carries it, set on each INSERT and UPDATE (``onupdate`` fires for
Core ``update()`` statements too, like ``updated_at``). Its value must be such that a row
committed *after* an export read can never carry a value below the bound that read
saved, however late it commits and whatever timestamps it holds:

- **PostgreSQL**: the writing transaction's id (``pg_current_xact_id()``, a 64-bit xid8
  that never wraps). The exporter saves ``pg_snapshot_xmin(pg_current_snapshot())``:
  every transaction with a lower id had ended when the read began, so every row below
  the bound was visible to it.
- **SQLite**: one more than the table's largest value. SQLite has one writer at a time,
  so values are taken in commit order; the exporter saves the largest committed value
  plus one.

See ``core_service.exports.increments`` for the reading side.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

#: ``export_seq`` of a row written now on PostgreSQL, for statements written as plain SQL
#: (``core_service.orders.sale_statement``), which must set it themselves.
POSTGRESQL_EXPORT_SEQ = "CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"


class next_export_seq(FunctionElement[int]):  # noqa: N801 (a SQL function's name)
    """The ``export_seq`` of a row written now; its argument is the table's name."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "next_export_seq"


@compiles(next_export_seq, "postgresql")
def _postgresql(element: next_export_seq, compiler: SQLCompiler, **kw: Any) -> str:
    return POSTGRESQL_EXPORT_SEQ


@compiles(next_export_seq)
def _serialized_writes(element: next_export_seq, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite: the max is read through the column's index, in the writer's own view.
    table = compiler.process(element.clauses, **kw)
    return f"(SELECT coalesce(max(export_seq), 0) + 1 FROM {table})"


class ExportSequenced:
    """Adds ``export_seq`` (see the module docstring)."""

    @declared_attr
    @classmethod
    def export_seq(cls) -> Mapped[int]:
        value = next_export_seq(sa.literal_column(cls.__tablename__))  # type: ignore[attr-defined]
        return mapped_column(
            sa.BigInteger(),
            default=value,
            onupdate=value,
            server_default=sa.text("0"),
            index=True,
        )
