"""The workbench's settings: one typed object, read once from ``KIPPU_*`` variables.

The workbench needs only the exports (a directory or an S3-compatible store the core
writes) and the core's URL, plus a secret of its own for its cookies: it never sees the
core's database URL or secret key. Where a variable means what it means for the core
(``KIPPU_EXPORT_URL``, ``KIPPU_EXPORT_DIR``, ``KIPPU_S3_ENDPOINT_URL``, ``KIPPU_S3_REGION``,
``KIPPU_VAR_DIR``, ``KIPPU_BASE_URL``), the same name is read, so one environment serves
``kippu demo`` and a deployment alike. ``docs/configuration.md`` lists them for operators.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from kippu_contract.export_store import ExportStore, local_path

#: The secret when none is set: fine on a developer's machine, never in production.
DEVELOPMENT_SECRET = "kippu-workbench-dev-secret-change-me"


@dataclass(frozen=True, slots=True)
class WorkbenchSettings:
    """Runtime configuration of ``kippu workbench``."""

    #: The Parquet exports the pages read (``KIPPU_EXPORT_DIR``; default
    #: ``$KIPPU_VAR_DIR/exports``, the core's default, with ``KIPPU_VAR_DIR`` ``./var``).
    export_dir: Path
    #: Where the workbench reaches the core API for logins and staff actions
    #: (``KIPPU_BASE_URL``, the core's own address; ``kippu workbench --core-url`` wins).
    core_url: str = "http://127.0.0.1:8000"
    #: Signs the workbench's session cookies (``KIPPU_WORKBENCH_SECRET_KEY``). Set it in
    #: production: whoever knows it can claim any staff member's facility in the pages.
    secret_key: str = DEVELOPMENT_SECRET
    #: Seconds between two refreshes of an open attendance page from the exports
    #: (``KIPPU_WORKBENCH_REFRESH_SECONDS``); other pages refresh at multiples of it.
    refresh_seconds: float = 5.0
    #: The exports in an S3-compatible store, ``s3://bucket/prefix`` (``KIPPU_EXPORT_URL``;
    #: empty: ``export_dir``). A local ``KIPPU_EXPORT_URL`` sets ``export_dir`` instead.
    export_url: str = ""
    #: The store's server and region (``KIPPU_S3_ENDPOINT_URL``, ``KIPPU_S3_REGION``), as
    #: for the core; empty: the AWS SDK's defaults. Credentials: the ``AWS_*`` variables.
    s3_endpoint_url: str = ""
    s3_region: str = ""
    #: Mark the session cookies ``Secure`` (``KIPPU_WORKBENCH_SECURE_COOKIES``): set it
    #: when managers reach the workbench by HTTPS through a proxy that speaks plain HTTP
    #: to it. Requests that arrive by HTTPS get ``Secure`` cookies anyway.
    secure_cookies: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> WorkbenchSettings:
        """Build the settings from the environment; ``overrides`` win."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("KIPPU_VAR_DIR", "var"))
        values: dict[str, object] = {
            "export_dir": Path(env.get("KIPPU_EXPORT_DIR") or var_dir / "exports").resolve()
        }
        if env.get("KIPPU_EXPORT_URL"):
            local = local_path(env["KIPPU_EXPORT_URL"])
            if local is None:
                values["export_url"] = env["KIPPU_EXPORT_URL"]
            else:
                values["export_dir"] = local.resolve()
        for name in ("s3_endpoint_url", "s3_region"):
            if f"KIPPU_{name.upper()}" in env:
                values[name] = env[f"KIPPU_{name.upper()}"]
        if "KIPPU_BASE_URL" in env:
            values["core_url"] = env["KIPPU_BASE_URL"]
        if "KIPPU_WORKBENCH_SECRET_KEY" in env:
            values["secret_key"] = env["KIPPU_WORKBENCH_SECRET_KEY"]
        if "KIPPU_WORKBENCH_SECURE_COOKIES" in env:
            flag = env["KIPPU_WORKBENCH_SECURE_COOKIES"].strip().lower()
            values["secure_cookies"] = flag in {"1", "true", "yes", "on"}
        if "KIPPU_WORKBENCH_REFRESH_SECONDS" in env:
            values["refresh_seconds"] = float(env["KIPPU_WORKBENCH_REFRESH_SECONDS"])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        # The login handler joins paths to it; a trailing slash would double them.
        object.__setattr__(self, "core_url", self.core_url.rstrip("/"))
        if self.refresh_seconds <= 0:
            raise ValueError("KIPPU_WORKBENCH_REFRESH_SECONDS must be positive")

    @property
    def export_location(self) -> str:
        """Where the pages read the exports: the ``s3://`` URL, or the directory."""
        return self.export_url or str(self.export_dir)

    def export_store(self) -> ExportStore:
        """The exports, opened (one store serves every page session)."""
        return ExportStore.open(
            self.export_location, endpoint_url=self.s3_endpoint_url, region=self.s3_region
        )

    @property
    def cookie_secret(self) -> str:
        """Panel's cookie-signing secret, derived from (not equal to) ``secret_key``."""
        return hmac.new(self.secret_key.encode(), b"kippu-workbench-cookies", sha256).hexdigest()

    @property
    def uses_development_secret(self) -> bool:
        return self.secret_key == DEVELOPMENT_SECRET
