"""Which fetched rows an incremental run writes, and the state it leaves for the next run.

Rows are read by their ``export_seq`` (:mod:`core_service.models.export_seq`), not by a
timestamp: a run reads the rows at or above the *bound* the previous run saved. The bound
is taken from the database just before a table is read (PostgreSQL: the oldest
transaction still running; SQLite: the largest value plus one), so every row below it
was visible to that read, and a row committed later, however long its transaction ran
and whatever times it carries (a gate's offline scans uploaded hours later), is at or
above it and reaches the next run. Nothing is ever missed, and no window has to be
guessed.

Rows read at or above the new bound may be read again by the next run; they are
remembered in the state as ``recent`` ``[id, export_seq]`` pairs, and a re-read row
with the same pair is skipped. A row that changed has a new ``export_seq`` and is
written again (readers keep the newest version per id). Usually few rows are above the
bound (those of transactions running while the export read); a transaction left open for
hours keeps the bound low, and the remembered rows grow until it ends.

A state saved by an older kippu (a timestamp ``watermark``) has no bound: the table is
read whole once, which the readers' de-duplication absorbs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"


class Increment:
    """The rows of one table that one run reads, writes and remembers."""

    def __init__(self, table_state: Mapping[str, Any], bound: int) -> None:
        previous = table_state.get("bound")
        #: Read rows at or above this ``export_seq`` (None: everything, a first export).
        self.lower: int | None = int(previous) if previous is not None else None
        self._bound = bound
        self._already = {(int(i), int(seq)) for i, seq in table_state.get("recent", [])}
        #: (id, export_seq) of the rows read so far at or above the new bound.
        self._window: list[pa.Table] = []

    def admit(self, ids: Column, seqs: Column) -> pa.Array[Any] | None:
        """Note a batch of fetched rows; a mask of those to write (None: all of them)."""
        seqs = seqs.cast(pa.int64())
        part = pa.table({"id": ids, "seq": seqs})
        self._window.append(
            part.filter(pc.greater_equal(part["seq"], pa.scalar(self._bound, pa.int64())))
        )
        if not self._already:
            return None
        keep = [(i, s) not in self._already for i, s in zip(_ints(ids), _ints(seqs), strict=True)]
        return pa.array(keep, pa.bool_())

    def state(self) -> dict[str, Any]:
        """The table's entry in ``_state.json`` after the rows admitted so far."""
        recent: list[list[int]] = []
        if self._window:
            window = pa.concat_tables(self._window)
            recent = [
                [i, s] for i, s in zip(_ints(window["id"]), _ints(window["seq"]), strict=True)
            ]
        return {"bound": self._bound, "recent": recent}


def _ints(column: Column) -> list[int]:
    """The values of an integer column without nulls (ids, sequence values)."""
    return cast("list[int]", column.to_pylist())
