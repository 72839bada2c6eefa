"""Where the Parquet exports live, and which of their files a reader may see.

The exporter (core), the workbench and the notebooks name the same place by one location:
a path or ``file://`` URL for a local directory, or ``s3://bucket/prefix`` for any
S3-compatible store (AWS, MinIO, Ceph, ...). :meth:`ExportStore.open` turns it into a
``pyarrow.fs`` filesystem and a root path on it: pyarrow is already what every part of
kippu installs, writes and reads Parquet natively, and its filesystem can be handed to
DuckDB (the workbench wraps it for ``duckdb.register_filesystem``), so writer and readers
share one abstraction and one set of S3 settings. Credentials are the AWS SDK's own:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``), profiles or an
instance role.

**Published runs.** An export run writes its Parquet files under names that begin with its
run id (:func:`new_run_id`: a UTC time to the microsecond, increasing from run to run),
then publishes them all at once by replacing the stamp :data:`LAST_RUN_FILE` with one
naming the run (:func:`last_run_stamp`; a rename on a local disk, one whole-object PUT on
S3, atomic either way). A reader reads the stamp, lists the files and keeps those of
published runs only (:func:`is_published`), so it sees the export as it was after some
completed run, never a run half-written. Files whose name carries no run id (exports of an
older kippu, files written by hand or by benchmarks) are always visible.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

#: Replaced when a run publishes its files; its content names the run (see the docstring).
LAST_RUN_FILE = ".export.last"
#: Prefix of the file that merges a partition's small files (see the core's compaction).
COMPACT_PREFIX = "compact-"
#: A run id: ``20261125T010203123456Z`` (UTC, microseconds).
_RUN_ID = re.compile(r"\d{8}T\d{12}Z")
_RUN_ID_FORMAT = "%Y%m%dT%H%M%S%fZ"
_S3_SCHEMES = {"s3", "s3a"}


@dataclass(frozen=True, slots=True)
class LastRun:
    """What the stamp says: the last published run and when it was published."""

    #: None for the empty stamp of a kippu before published runs (everything is visible).
    run_id: str | None
    #: POSIX seconds.
    ended_at: float


@dataclass(frozen=True, slots=True)
class ExportStore:
    """An export location opened as a pyarrow filesystem; paths are ``/``-separated."""

    #: The location as people read it: an absolute path or ``s3://bucket/prefix``.
    url: str
    filesystem: pafs.FileSystem
    #: The export root on ``filesystem``: the directory, or ``bucket/prefix``.
    root: str
    #: The directory when the store is local, else None.
    local_dir: Path | None

    @classmethod
    def open(
        cls, location: str | os.PathLike[str], *, endpoint_url: str = "", region: str = ""
    ) -> ExportStore:
        """Open a path, ``file://`` URL or ``s3://bucket/prefix``.

        ``endpoint_url`` (an S3-compatible server, e.g. ``http://minio:9000``) defaults to
        ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` as the AWS tools read them, else
        AWS itself; ``region`` to the AWS SDK's (``AWS_REGION``, the profile).
        """
        local = local_path(location)
        if local is not None:
            local = local.resolve()
            return cls(str(local), pafs.LocalFileSystem(), local.as_posix(), local)
        parts = urlsplit(str(location))
        if parts.scheme not in _S3_SCHEMES or not parts.netloc:
            raise ValueError(
                f"unsupported export location {str(location)!r}: use a path, file:// or "
                "s3://bucket/prefix"
            )
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3", "")
            or os.environ.get("AWS_ENDPOINT_URL", "")
        )
        filesystem = pafs.S3FileSystem(endpoint_override=endpoint or None, region=region or None)
        root = "/".join(p for p in (parts.netloc, parts.path.strip("/")) if p)
        return cls(f"s3://{root}", filesystem, root, None)

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` below the root."""
        return "/".join((self.root, *parts))

    def uri(self, path: str) -> str:
        """``path`` as DuckDB (and people) name it: the local path, or ``s3://...``."""
        return path if self.local_dir is not None else f"s3://{path}"

    def read_bytes(self, *parts: str) -> bytes | None:
        """The content of a file below the root; None if there is none."""
        try:
            if self.local_dir is not None:
                return self.local_dir.joinpath(*parts).read_bytes()
            with self.filesystem.open_input_stream(self.path(*parts)) as stream:
                return stream.read()
        except FileNotFoundError:
            return None

    def parquet_files(self, *parts: str) -> list[pafs.FileInfo]:
        """Every Parquet file below ``parts``, at any depth (one listing on S3)."""
        selector = pafs.FileSelector(self.path(*parts), recursive=True, allow_not_found=True)
        return [
            info
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
        ]

    def last_run(self) -> LastRun | None:
        """The stamp of the last published run; None when no run has published yet."""
        content = self.read_bytes(LAST_RUN_FILE)
        if content is None:
            return None
        # Only an older kippu's empty stamp needs its time, and only local ones were empty.
        stamp = self.local_dir / LAST_RUN_FILE if self.local_dir and not content.strip() else None
        return parse_last_run(content, stamp.stat().st_mtime if stamp else 0.0)


def local_path(location: str | os.PathLike[str]) -> Path | None:
    """The directory a location names when it is local (a path or ``file://``), else None."""
    if isinstance(location, os.PathLike):
        return Path(location)
    parts = urlsplit(location)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    # A scheme of one letter is a Windows drive.
    return Path(location) if len(parts.scheme) <= 1 else None


# -- run ids and the stamp -----------------------------------------------------------------


def new_run_id(after: str | None = None, now: dt.datetime | None = None) -> str:
    """A run id for a run starting ``now``, greater than ``after`` (the last run's)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if after is not None and _RUN_ID.fullmatch(after):
        previous = dt.datetime.strptime(after, _RUN_ID_FORMAT).replace(tzinfo=dt.UTC)
        # A clock set back, or a run within the same microsecond, still sorts after.
        moment = max(moment, previous + dt.timedelta(microseconds=1))
    return moment.strftime(_RUN_ID_FORMAT)


def unmerged_name(file_name: str) -> str:
    """A data file's name without its path and ``compact-`` prefixes (see compaction)."""
    name = file_name.rsplit("/", 1)[-1]
    while name.startswith(COMPACT_PREFIX):
        name = name[len(COMPACT_PREFIX) :]
    return name


def run_id_of(file_name: str) -> str | None:
    """The run id a data file's name begins with (merged files' too); None without one."""
    head = unmerged_name(file_name).split("-", 1)[0]
    return head if _RUN_ID.fullmatch(head) else None


def is_published(file_name: str, last_run: LastRun | None) -> bool:
    """Whether a reader that read ``last_run`` from the stamp may see this file."""
    run_id = run_id_of(file_name)
    if run_id is None:
        return True
    return last_run is not None and last_run.run_id is not None and run_id <= last_run.run_id


def last_run_stamp(run_id: str, ended_at: dt.datetime | None = None) -> bytes:
    """The stamp's content for a run published at ``ended_at`` (now)."""
    moment = ended_at or dt.datetime.now(dt.UTC)
    return json.dumps({"run_id": run_id, "ended_at": moment.isoformat()}).encode()


def parse_last_run(content: bytes, mtime: float) -> LastRun:
    """Read a stamp; an empty one (an older kippu's) was published at its ``mtime``."""
    if not content.strip():
        return LastRun(None, mtime)
    data = json.loads(content)
    return LastRun(str(data["run_id"]), dt.datetime.fromisoformat(data["ended_at"]).timestamp())
