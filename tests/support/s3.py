"""An S3-compatible server on loopback for the export tests: moto in server mode.

One server per test process (``s3_endpoint``, on an ephemeral port of 127.0.0.1), one
bucket per test (``s3_bucket``), with test credentials in the environment as the AWS SDK
reads them, so the exporter, the workbench and a notebook's kernel all reach it as they
would reach a real store. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from core_service.platform.settings import Settings
from kippu_contract.export_store import ExportStore

#: What the AWS SDK reads; moto accepts any keys. No instance metadata lookups either.
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "kippu-test",
    "AWS_SECRET_ACCESS_KEY": "kippu-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True, slots=True)
class S3Bucket:
    """A bucket of the test's own on the loopback server."""

    endpoint_url: str
    name: str

    def url(self, prefix: str = "exports") -> str:
        return f"s3://{self.name}/{prefix}"

    def store(self, prefix: str = "exports") -> ExportStore:
        return ExportStore.open(self.url(prefix), endpoint_url=self.endpoint_url)

    def object_keys(self, prefix: str = "exports") -> list[str]:
        """Every object's key below ``prefix``, sorted."""
        store = self.store(prefix)
        selector = pafs.FileSelector(store.root, recursive=True, allow_not_found=True)
        return sorted(
            info.path.split("/", 1)[1]
            for info in store.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        )


def on_s3(settings: Settings, bucket: S3Bucket, prefix: str = "exports") -> Settings:
    """``settings`` exporting into ``bucket`` instead of the local directory."""
    return dataclasses.replace(
        settings, export_url=bucket.url(prefix), s3_endpoint_url=bucket.endpoint_url
    )


def create_bucket(endpoint_url: str, name: str) -> None:
    """Create bucket ``name`` on the server, with the credentials in the environment."""
    admin = pafs.S3FileSystem(endpoint_override=endpoint_url, allow_bucket_creation=True)
    admin.create_dir(name)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto server on loopback, for the whole test process."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """An empty bucket, and the credentials to reach it in the environment."""
    for key, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    name = f"kippu-{uuid.uuid4().hex[:12]}"
    create_bucket(s3_endpoint, name)
    return S3Bucket(s3_endpoint, name)
