"""Which fetched rows an incremental run writes, and the state it leaves for the next run.

A run reads the rows whose watermark column is at or after the saved high-water mark minus
the overlap window (see :mod:`core_service.exports.exporter` for why). Rows re-read inside
that window that were written before, with the same id and timestamp, are skipped: the
state remembers them as ``recent`` ``[id, timestamp]`` pairs, the timestamps in
``datetime.isoformat()`` form (``2026-11-25T01:02:03.456789+00:00``).

The bookkeeping works on whole Arrow columns, timestamps as integer microseconds since
the epoch, so it costs almost nothing per row; only rows at or before the newest
remembered timestamp (the overlap window, a few seconds of changes) are looked up one by
one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"


class Increment:
    """The high-water mark and overlap window of one table during one run."""

    def __init__(self, table_state: Mapping[str, Any], overlap: dt.timedelta) -> None:
        watermark = table_state.get("watermark")
        self._overlap = overlap // _MICROSECOND
        self._watermark: int | None = (
            _micros(dt.datetime.fromisoformat(watermark)) if watermark else None
        )
        self._already = {
            (int(i), _micros(dt.datetime.fromisoformat(str(ts))))
            for i, ts in table_state.get("recent", [])
        }
        self._already_newest = max((ts for _, ts in self._already), default=None)
        #: (id, microseconds) of the rows read so far that may still be inside the window.
        self._window: list[pa.Table] = []

    @property
    def lower(self) -> dt.datetime | None:
        """Read rows at or after this instant (None: everything, a first export)."""
        if self._watermark is None:
            return None
        return _datetime(self._watermark - self._overlap)

    def admit(self, ids: Column, stamps: Column) -> pa.Array[Any] | None:
        """Note a batch of fetched rows; a mask of those to write (None: all of them).

        ``stamps`` are the rows' watermark column (``timestamp[us, tz=UTC]``), fetched in
        ascending order.
        """
        micros = stamps.cast(pa.int64())
        newest: int | None = pc.max(micros).as_py()
        if newest is not None and (self._watermark is None or newest > self._watermark):
            self._watermark = newest
        if self._watermark is None:  # an empty batch on a first export
            return None
        self._window.append(pa.table({"id": ids, "ts": micros}))
        self._window = [self._inside(part) for part in self._window]
        return self._unseen(ids, micros)

    def state(self) -> dict[str, Any]:
        """The table's entry in ``_state.json`` after the rows admitted so far."""
        recent: list[list[Any]] = []
        if self._window:
            window = pa.concat_tables(self._window)
            stamps = _isoformat(_ints(window["ts"]))
            recent = [[i, ts] for i, ts in zip(window["id"].to_pylist(), stamps, strict=True)]
        watermark = self._watermark
        return {
            "watermark": _datetime(watermark).isoformat() if watermark is not None else None,
            "recent": recent,
        }

    def _inside(self, part: pa.Table) -> pa.Table:
        assert self._watermark is not None
        bound = pa.scalar(self._watermark - self._overlap, pa.int64())
        return part.filter(pc.greater_equal(part["ts"], bound))

    def _unseen(self, ids: Column, micros: Column) -> pa.Array[Any] | None:
        if self._already_newest is None:
            return None
        near = pc.less_equal(micros, pa.scalar(self._already_newest, pa.int64()))
        positions = _ints(pc.indices_nonzero(near))
        if not positions:
            return None
        keep = [True] * len(micros)
        near_ids = ids.take(positions).to_pylist()
        near_micros = micros.take(positions).to_pylist()
        for position, key in zip(positions, zip(near_ids, near_micros, strict=True), strict=True):
            if key in self._already:
                keep[position] = False
        return pa.array(keep, pa.bool_())


def _micros(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _datetime(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def _ints(column: Column) -> list[int]:
    """The values of an integer column without nulls (ids, microseconds, positions)."""
    return cast("list[int]", column.to_pylist())


def _isoformat(micros: list[int]) -> list[str]:
    """``datetime.isoformat()`` of UTC instants given in microseconds since the epoch.

    Like Python, it leaves out a zero fraction. The seconds' text is shared by the many
    rows of one second, which makes this several times faster than a datetime per row.
    """
    seconds: dict[int, str] = {}
    text = []
    for value in micros:
        second, fraction = divmod(value, 1_000_000)
        prefix = seconds.get(second)
        if prefix is None:
            prefix = seconds[second] = (_NAIVE_EPOCH + dt.timedelta(seconds=second)).isoformat()
        text.append(f"{prefix}.{fraction:06d}+00:00" if fraction else f"{prefix}+00:00")
    return text
