"""One analytical store per workbench process, shared by every page session.

An :class:`~workbench.data_access.ExportSource` per page session loaded every facility's
newest rows once more for each opened page (0.4-0.8 GB and seconds at ten million
check-ins). :class:`SharedStore` keeps one source, on one DuckDB connection, for the whole
process, reading only the facilities that have a session open (reference counted); a
session gets a :class:`FacilitySource`, bound to its manager's facility, which the page
states use exactly as they used their own source.

- **Memory** follows the data of the facilities in use, not the number of pages: a
  facility is loaded when its first session opens and forgotten ``idle_seconds`` after
  its last one closed (a manager reloading a page does not pay the load again).
- **Refreshing** is shared: a session's refresh reads new export files unless another
  session did so less than ``refresh_seconds`` ago, or is listing them now, so twenty
  pages ticking every few seconds list the exports once per tick, not twenty times.
  Listing a year of partitions of many facilities takes a second on a busy machine, so
  it runs outside the query lock (the other pages keep querying meanwhile), and the
  served workbench lists on a thread of its own (``background=True``, :meth:`start`)
  rather than in a page's refresh, so no page waits for a listing.
- **Threads**: Panel runs callbacks on the Tornado loop and, with ``--num-threads``, on
  a pool; one DuckDB connection may not be used by two threads at once, and a page's
  query reads temporary tables that another page's query may replace, so every call
  goes through one lock. Each call is a few milliseconds of DuckDB on small memory tables.
- **Isolation**: a :class:`FacilitySource` answers for its own facility only and refuses
  any other id (``FacilityMismatch``); it offers no ad-hoc SQL.

Counters (``sources_created``, ``connections_opened``, ``sessions_opened``, ``refreshes``)
say what the store did, for tests and the benchmark.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from kippu_contract.export_store import ExportStore
from workbench.data_access import Attendance, ExportSource
from workbench.data_segments import Segment

log = logging.getLogger(__name__)

#: Seconds a facility without sessions stays loaded (see SharedStore).
IDLE_SECONDS = 600.0


class FacilityMismatch(PermissionError):
    """A session asked about a facility other than its own (a bug, never user input)."""


class SharedStore:
    """The process's one export source, loading the facilities of open sessions only."""

    def __init__(
        self,
        location: str | os.PathLike[str] | ExportStore,
        *,
        refresh_seconds: float = 1.0,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self._location = location
        self._refresh_seconds = refresh_seconds
        self._idle_seconds = idle_seconds
        self._clock = clock
        # Re-entrant: a source method may call another (attendance calls timezone).
        self._lock = threading.RLock()
        # Held while listing the files (taken before _lock, never after): one lister.
        self._listing_lock = threading.Lock()
        self._source: ExportSource | None = None
        self._sessions: Counter[int] = Counter()
        #: When each facility's last session closed (facilities still loaded).
        self._idle_since: dict[int, float] = {}
        self._refreshed_at: float | None = None
        #: With background refreshes, sessions' refresh() calls read nothing themselves.
        self._background = background
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.sources_created = 0
        self.connections_opened = 0
        self.sessions_opened = 0
        self.refreshes = 0

    # -- sessions --------------------------------------------------------------------------

    def open(self, facility_id: int) -> FacilitySource:
        """A session's view of its facility, loading the facility if it is not yet."""
        with self._lock:
            source = self._source_or_create()
            self._sessions[facility_id] += 1
            self._idle_since.pop(facility_id, None)
            self.sessions_opened += 1
            source.load_facility(facility_id)
        if self._background and self._thread is None:
            self.start()
        return FacilitySource(self, facility_id)

    def close(self, facility_id: int) -> None:
        """A session ended; the facility is forgotten once idle for ``idle_seconds``."""
        with self._lock:
            if self._sessions[facility_id] <= 0:
                return
            self._sessions[facility_id] -= 1
            if self._sessions[facility_id] == 0:
                del self._sessions[facility_id]
                self._idle_since[facility_id] = self._clock()
            self._unload_idle()

    @property
    def loaded_facilities(self) -> frozenset[int]:
        """The facilities whose rows are in memory."""
        with self._lock:
            if self._source is None:
                return frozenset()
            return self._source.facilities or frozenset()

    def sessions(self, facility_id: int) -> int:
        """Open sessions of ``facility_id``."""
        with self._lock:
            return self._sessions[facility_id]

    # -- keeping current -------------------------------------------------------------------

    def start(self) -> None:
        """Refresh every ``refresh_seconds`` on a daemon thread until :meth:`stop`."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._refresh_loop, name="kippu-workbench-store", daemon=True
            )
        self._thread.start()

    def stop(self) -> None:
        """End the background refreshes (the thread finishes its current refresh)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _refresh_loop(self) -> None:
        while not self._stopped.wait(self._refresh_seconds):
            try:
                self.refresh(force=True)
            except Exception:  # the next round tries again; the pages keep their figures
                log.warning("workbench store: refresh failed", exc_info=True)

    def session_refresh(self) -> None:
        """What a page's refresh does: nothing with background refreshes, else refresh."""
        if not self._background:
            self.refresh()

    def refresh(self, *, force: bool = False) -> None:
        """Read new export files, unless a refresh ran less than ``refresh_seconds`` ago."""
        with self._lock:
            source = self._source
        if source is None or (self._fresh() and not force):
            return
        if not self._listing_lock.acquire(blocking=force):
            return  # another session is listing: its refresh is this one's too
        try:
            if self._fresh() and not force:
                return
            listed = source.list_partitions()
            with self._lock:
                self._unload_idle()
                source.refresh(listed)
                self._refreshed_at = self._clock()
                self.refreshes += 1
        finally:
            self._listing_lock.release()

    def _fresh(self) -> bool:
        refreshed_at = self._refreshed_at
        return refreshed_at is not None and self._clock() - refreshed_at < self._refresh_seconds

    def call(self, facility_id: int, method: str, *args: Any) -> Any:
        """Run ``ExportSource.<method>(facility_id, *args)`` under the store's lock."""
        with self._lock:
            if facility_id not in self._sessions:
                raise FacilityMismatch(f"facility {facility_id} has no open session")
            source = self._source_or_create()
            return getattr(source, method)(facility_id, *args)

    def _source_or_create(self) -> ExportSource:
        if self._source is None:
            connection = duckdb.connect()
            self.connections_opened += 1
            # As ExportSource does for a connection of its own (freed memory goes back).
            connection.execute("SET allocator_background_threads = true")
            self._source = ExportSource(self._location, connection, facilities=())
            self.sources_created += 1
            self._refreshed_at = self._clock()
        return self._source

    def _unload_idle(self) -> None:
        if self._source is None:
            return
        now = self._clock()
        for facility_id, since in list(self._idle_since.items()):
            if now - since >= self._idle_seconds:
                del self._idle_since[facility_id]
                log.info("workbench store: forgetting idle facility %s", facility_id)
                self._source.unload_facility(facility_id)


class FacilitySource:
    """One session's source: the :class:`ExportSource` queries, for one facility only.

    The page states call it as they call an ``ExportSource`` (``facility_id`` first), so
    they and the notebooks share one API; a call naming another facility is refused.
    """

    def __init__(self, store: SharedStore, facility_id: int) -> None:
        self._store = store
        self.facility_id = facility_id
        self._closed = False

    def close(self) -> None:
        """End the session's hold on its facility (idempotent)."""
        if not self._closed:
            self._closed = True
            self._store.close(self.facility_id)

    def refresh(self) -> None:
        self._store.session_refresh()

    def _call(self, facility_id: int, method: str, *args: Any) -> Any:
        if facility_id != self.facility_id:
            raise FacilityMismatch(
                f"session of facility {self.facility_id} asked for facility {facility_id}"
            )
        if self._closed:
            raise FacilityMismatch(f"session of facility {facility_id} is closed")
        return self._store.call(facility_id, method, *args)

    def timezone(self, facility_id: int) -> str:
        return str(self._call(facility_id, "timezone"))

    def today(self, facility_id: int, now: dt.datetime | None = None) -> dt.date:
        result: dt.date = self._call(facility_id, "today", now)
        return result

    def attendance(self, facility_id: int, day: dt.date) -> Attendance:
        result: Attendance = self._call(facility_id, "attendance", day)
        return result

    def admissions_per_hour(self, facility_id: int, day: dt.date) -> pd.DataFrame:
        result: pd.DataFrame = self._call(facility_id, "admissions_per_hour", day)
        return result

    def in_park(self, facility_id: int, day: dt.date) -> int:
        return int(self._call(facility_id, "in_park", day))

    def admissions_by(self, facility_id: int, day: dt.date, what: str) -> pd.DataFrame:
        result: pd.DataFrame = self._call(facility_id, "admissions_by", day, what)
        return result

    def sales_lines(self, facility_id: int, day_from: dt.date, day_to: dt.date) -> pd.DataFrame:
        result: pd.DataFrame = self._call(facility_id, "sales_lines", day_from, day_to)
        return result

    def product_names(self, facility_id: int) -> pd.DataFrame:
        result: pd.DataFrame = self._call(facility_id, "product_names")
        return result

    def segment_keys(self, facility_id: int, segment: Segment) -> list[str]:
        result: list[str] = self._call(facility_id, "segment_keys", segment)
        return result

    def segment_count(self, facility_id: int, segment: Segment) -> int:
        return int(self._call(facility_id, "segment_count", segment))

    def segment_sample(self, facility_id: int, segment: Segment, n: int = 10) -> list[str]:
        result: list[str] = self._call(facility_id, "segment_sample", segment, n)
        return result
