"""Fetched rows to Arrow tables of the export schema, a whole column at a time.

The exporter reads the database driver's own values (:mod:`core_service.exports.fetch`).
Each column is converted to its Arrow type in one call (the conversion runs in
Arrow's C++), never through a Python dict per row: that per-row work was most of an
export's time. The drivers differ only in how values arrive:

- timestamps: text ``'2026-11-25 01:02:03.456789'`` on SQLite, aware ``datetime`` from
  asyncpg; both become ``timestamp[us, tz=UTC]``;
- dates: text ``'2026-11-25'`` on SQLite, ``date`` from asyncpg;
- booleans: ``0``/``1`` on SQLite, ``bool`` from asyncpg;
- JSON: text on both (the query casts it); re-serialised so that non-ASCII characters
  are written as themselves, not as ``\\u`` escapes.

SQLite's text timestamps are naive UTC (``core_service.models.base.UTCDateTime``). The
partition ``date`` is each row's local calendar date in its facility's time zone,
computed by Arrow's time zone conversion for all rows of a facility at once.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from kippu_contract.export_schema import ExportTable

#: The zone of facilities whose time zone is unknown (the core's home market).
DEFAULT_ZONE = ZoneInfo("Asia/Tokyo")


def to_arrow(
    table: ExportTable,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    partition_source: str,
    zones: Mapping[int, ZoneInfo],
    json_columns: Collection[str] = (),
) -> pa.Table:
    """``rows`` (tuples in the order of ``names``) as a table of ``table.schema``.

    The partition key ``date`` is not fetched: it is derived from the column
    ``partition_source`` and each row's facility (see the module docstring).
    ``json_columns`` hold JSON text.
    """
    arrays = {}
    for position, name in enumerate(names):
        # One list per column; unlike zip(*rows) this makes no iterator per row, which
        # would wake the garbage collector (it scans every object the process holds).
        values: list[Any] = list(map(operator.itemgetter(position), rows))
        if name in json_columns:
            values = [json_text(v) for v in values]
        arrays[name] = column(values, table.schema.field(name).type)
    arrays["date"] = partition_dates(arrays["facility_id"], arrays[partition_source], zones)
    return pa.Table.from_arrays([arrays[n] for n in table.schema.names], schema=table.schema)


def column(values: Sequence[Any], type_: pa.DataType) -> pa.Array[Any]:
    """One column of driver values as an Arrow array of ``type_``."""
    if pa.types.is_timestamp(type_):
        return _timestamps(values, type_)
    if pa.types.is_date32(type_):
        if isinstance(_first(values), str):
            return pa.array(values, pa.string()).cast(type_)
        return pa.array(values, type_)
    if pa.types.is_boolean(type_):
        if isinstance(_first(values), int) and not isinstance(_first(values), bool):
            return pa.array(values, pa.int64()).cast(type_)
        return pa.array(values, type_)
    return pa.array(values, type_)


def json_text(text: str | None) -> str | None:
    """A JSON document as the exports store it (a JSON string: its value, as before)."""
    if text is None:
        return None
    value = json.loads(text)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _timestamps(values: Sequence[Any], type_: pa.DataType) -> pa.Array[Any]:
    if not isinstance(_first(values), str):
        return pa.array(values, type_)  # aware datetimes are converted to UTC
    text = pa.array(values, pa.string())
    try:
        # Naive text is UTC: a cast to the naive type, then a relabel (no conversion).
        unit = cast(pa.TimestampType, type_).unit
        return text.cast(pa.timestamp(unit)).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Text in a shape Arrow's ISO 8601 parser rejects: parse it the way Python does.
        return pa.array([None if v is None else _parse_text(v) for v in values], type_)


def _parse_text(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def _first(values: Sequence[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def partition_dates(
    facility_ids: pa.Array[Any], source: pa.Array[Any], zones: Mapping[int, ZoneInfo]
) -> pa.Array[Any]:
    """The local calendar date of each row's ``source`` in its facility's time zone."""
    if pa.types.is_date32(source.type):
        return source
    result: pa.Array[Any] | None = None
    for facility_id in pc.unique(facility_ids).to_pylist():
        assert facility_id is not None  # every exported row belongs to a facility
        local = _local_dates(source, zones.get(facility_id, DEFAULT_ZONE))
        if result is None:
            result = local
        else:
            result = pc.if_else(
                pc.equal(facility_ids, pa.scalar(facility_id, pa.int64())), local, result
            )
    return result if result is not None else pa.array([], pa.date32())


def _local_dates(timestamps: pa.Array[Any], zone: ZoneInfo) -> pa.Array[Any]:
    try:
        return timestamps.cast(pa.timestamp("us", tz=zone.key)).cast(pa.date32())
    except pa.ArrowInvalid:
        # A zone Python knows but Arrow's time zone database does not: convert row by row.
        return pa.array(
            [None if t is None else t.astimezone(zone).date() for t in timestamps.to_pylist()],
            pa.date32(),
        )
