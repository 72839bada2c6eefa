"""Writing into an export store: files published whole, small objects replaced atomically.

The store (:class:`kippu_contract.export_store.ExportStore`) is a local directory or an
S3-compatible bucket. Data files are made on the local disk first (DuckDB writes them into
a staging directory) and then published: renamed into place on the same disk, or uploaded
as one object each, which S3 makes visible only once it is complete. Either way a reader
never opens a half-written file; which files it may see at all is decided by the stamp
(see the contract module).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from core_service.platform.settings import Settings
from kippu_contract.export_store import LAST_RUN_FILE, ExportStore, last_run_stamp

#: Private directory of a local export dir where files are made before they are moved in
#: (on the same disk, so that the move is a rename).
STAGING_DIR = "_staging"
#: Parallel uploads to a remote store (each is one request round trip or a few).
UPLOAD_THREADS = 8

_T = TypeVar("_T")


def export_store(settings: Settings) -> ExportStore:
    """The store ``settings`` export to (one per location, shared by the runs)."""
    return _open(settings.export_location, settings.s3_endpoint_url, settings.s3_region)


@functools.lru_cache(maxsize=8)
def _open(location: str, endpoint_url: str, region: str) -> ExportStore:
    return ExportStore.open(location, endpoint_url=endpoint_url, region=region)


def staging_dir(store: ExportStore) -> Path:
    """An empty directory to make files in before they are published."""
    if store.local_dir is None:
        return Path(tempfile.mkdtemp(prefix="kippu-export-"))
    staging = store.local_dir / STAGING_DIR
    # Left over by a run that crashed; nobody else writes while the run holds the lock.
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def write_bytes(store: ExportStore, name: str, data: bytes) -> None:
    """Replace the file ``name`` below the root atomically."""
    if store.local_dir is not None:
        path = store.local_dir / name
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    with store.filesystem.open_output_stream(store.path(name)) as stream:
        stream.write(data)


def publish_last_run(store: ExportStore, run_id: str) -> None:
    """Publish every file of ``run_id`` (and of the runs before it) to readers."""
    write_bytes(store, LAST_RUN_FILE, last_run_stamp(run_id))


def publish(store: ExportStore, files: Iterable[tuple[Path, str]]) -> int:
    """Move made files (local path, store path) into the store; returns how many."""
    pairs = list(files)
    if store.local_dir is not None:
        for made, target in pairs:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(made, target)  # atomic: readers see whole files only
        return len(pairs)

    def upload(pair: tuple[Path, str]) -> None:
        made, target = pair
        with store.filesystem.open_output_stream(target) as stream, made.open("rb") as source:
            shutil.copyfileobj(source, stream, 1 << 20)
        made.unlink()

    _each(upload, pairs)
    return len(pairs)


def fetch(store: ExportStore, paths: list[str], into: Path) -> list[Path]:
    """Local copies of store files, to read them with DuckDB (local files: themselves)."""
    if store.local_dir is not None:
        return [Path(p) for p in paths]
    into.mkdir(parents=True, exist_ok=True)
    copies = [into / f"{n}-{p.rsplit('/', 1)[-1]}" for n, p in enumerate(paths)]

    def download(pair: tuple[str, Path]) -> None:
        path, copy = pair
        with store.filesystem.open_input_stream(path) as stream, copy.open("wb") as target:
            shutil.copyfileobj(stream, target, 1 << 20)

    _each(download, list(zip(paths, copies, strict=True)))
    return copies


def delete(store: ExportStore, paths: Iterable[str]) -> None:
    """Remove store files; one already gone is no error."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            store.filesystem.delete_file(path)


def _each(work: Callable[[_T], None], items: list[_T]) -> None:
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(min(UPLOAD_THREADS, len(items))) as pool:
        for _ in pool.map(work, items):
            pass
