"""Declarative base, shared column types and the tenant mixin.

Every tenant-owned table inherits :class:`TenantMixin`, which adds ``facility_id``; the
services scope every query by it (see ``core_service.platform.tenancy``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from kippu_contract.facility_time import utcnow as utcnow  # re-exported for the models


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    SQLite stores no offset, so values come back naive; this type re-attaches UTC so the
    application never mixes naive and aware datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


S = TypeVar("S", bound=StrEnum)


class StateType(sa.TypeDecorator[S]):
    """A state column: text in the database, a member of ``states`` in Python.

    Writing a value that is not one of the states fails at once (a misspelt state in a
    query or an UPDATE never reaches the database), and every loaded row carries the
    enum member, so the type checker's view of ``Order.status`` is the truth.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, states: type[S], length: int = 16) -> None:
        super().__init__(length)
        self.states = states

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.states(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> S | None:
        return None if value is None else self.states(value)


# SQLite only autoincrements INTEGER PRIMARY KEY, so big ids are plain integers there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(),
        list[Any]: sa.JSON(),
    }

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class Timestamped:
    """``created_at`` and ``updated_at``; exports use ``updated_at`` as a high-water mark."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # onupdate also fires for Core ``update()`` statements, so atomic counter updates
    # move the watermark too.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class TenantMixin:
    """Marks a table as owned by one facility."""

    @declared_attr
    @classmethod
    def facility_id(cls) -> Mapped[int]:
        return mapped_column(
            BigId, sa.ForeignKey("facility.id", ondelete="CASCADE"), index=True, nullable=False
        )
