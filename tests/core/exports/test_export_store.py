"""Export locations, run ids and which files readers see (``kippu_contract.export_store``),
and the settings that name the location."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core_service.platform.settings import Settings
from kippu_contract.export_store import (
    ExportStore,
    LastRun,
    is_published,
    last_run_stamp,
    new_run_id,
    parse_last_run,
    run_id_of,
)
from workbench.settings import WorkbenchSettings

MOMENT = dt.datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=dt.UTC)


def test_a_path_and_a_file_url_open_a_local_directory(tmp_path: Path) -> None:
    for location in (tmp_path, str(tmp_path), tmp_path.as_uri()):
        store = ExportStore.open(location)
        assert store.local_dir == tmp_path and store.uri(store.path("a")) == f"{tmp_path}/a"


def test_an_s3_url_opens_the_bucket_and_prefix() -> None:
    store = ExportStore.open("s3://exports-bucket/kippu/prod/", endpoint_url="http://127.0.0.1:9")

    assert (store.local_dir, store.root, store.url) == (
        None,
        "exports-bucket/kippu/prod",
        "s3://exports-bucket/kippu/prod",
    )
    assert store.uri(store.path("orders")) == "s3://exports-bucket/kippu/prod/orders"


def test_other_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        ExportStore.open("ftp://example.org/exports")


def test_run_ids_increase_even_when_the_clock_does_not() -> None:
    first = new_run_id(now=MOMENT)

    assert first == "20261125T010203456789Z"
    assert new_run_id(after=first, now=MOMENT) > first
    assert new_run_id(after=first, now=MOMENT - dt.timedelta(hours=1)) > first


def test_only_files_of_published_runs_are_visible() -> None:
    published, later = new_run_id(now=MOMENT), new_run_id(now=MOMENT + dt.timedelta(seconds=1))
    stamp = parse_last_run(last_run_stamp(published, MOMENT), 0.0)

    assert stamp == LastRun(published, MOMENT.timestamp())
    assert run_id_of(f"compact-compact-{published}-1-0.parquet") == published
    assert is_published(f"{published}-1-0.parquet", stamp)
    assert is_published(f"compact-{published}-2-0.parquet", stamp)
    assert not is_published(f"{later}-1-0.parquet", stamp)
    assert not is_published(f"{published}-1-0.parquet", None)  # nothing published yet


def test_files_without_a_run_id_are_always_visible() -> None:
    """Exports of a kippu before published runs, or files written by other tools."""
    assert is_published("20261125T010203-1a2b3c4d-1-0.parquet", None)
    assert is_published("part-0.parquet", parse_last_run(b"", 5.0))
    assert parse_last_run(b"", 5.0) == LastRun(None, 5.0)


def test_the_core_reads_the_export_url_and_it_wins_over_the_directory(tmp_path: Path) -> None:
    env = {"KIPPU_EXPORT_DIR": str(tmp_path / "dir"), "KIPPU_EXPORT_URL": "s3://b/exports"}
    local = {"KIPPU_EXPORT_URL": (tmp_path / "url").as_uri()}

    remote = Settings.from_env({**env, "KIPPU_S3_ENDPOINT_URL": "http://minio:9000"})

    assert (remote.export_dir, remote.export_location) == (None, "s3://b/exports")
    assert remote.s3_endpoint_url == "http://minio:9000"
    assert Settings.from_env(local).export_dir == tmp_path / "url"
    assert Settings.from_env({"KIPPU_VAR_DIR": str(tmp_path)}).export_location == str(
        tmp_path / "exports"
    )


def test_the_workbench_reads_the_export_url_as_the_core_does(tmp_path: Path) -> None:
    env = {"KIPPU_EXPORT_URL": "s3://b/exports", "KIPPU_S3_REGION": "ap-northeast-1"}
    local = {"KIPPU_EXPORT_URL": str(tmp_path / "url")}

    remote = WorkbenchSettings.from_env(env)

    assert remote.export_location == Settings.from_env(env).export_location
    assert remote.export_store().url == "s3://b/exports" and remote.s3_region == "ap-northeast-1"
    assert WorkbenchSettings.from_env(local).export_location == str(tmp_path / "url")
