"""Typed settings, read once from ``KIPPU_*`` environment variables.

Every field has a documented default so that ``kippu demo`` works on a fresh machine with
nothing set. ``docs/configuration.md`` lists the same fields for operators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from kippu_contract.export_store import local_path

#: The two runners of the background jobs (see ``Settings.job_runner``).
JOB_RUNNERS = ("inprocess", "queue")


def _default_var_dir() -> Path:
    return Path(os.environ.get("KIPPU_VAR_DIR", "var")).resolve()


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration of the core service and the commands around it."""

    #: SQLAlchemy URL of the OLTP database. ``postgresql://`` and ``sqlite:///`` are
    #: accepted and mapped to their asyncio drivers (asyncpg, aiosqlite).
    database_url: str = ""
    #: Directory for the SQLite file, exports and demo mail when no other path is given.
    var_dir: Path = field(default_factory=_default_var_dir)
    #: Secret for signing sessions, magic links and staff tokens, and for encrypting the
    #: facilities' private signing keys. Must be set in production.
    secret_key: str = "kippu-dev-secret-change-me"
    #: Public base URL of the core, used in e-mail links.
    base_url: str = "http://127.0.0.1:8000"
    #: Where ``kippu export`` and the background export write Parquet files
    #: (hive-partitioned), when the exports are a local directory.
    export_dir: Path | None = None
    #: Where the exports go, as a URL: ``s3://bucket/prefix`` for an S3-compatible store,
    #: or a path or ``file://`` URL for a local directory. Set, it wins over
    #: ``export_dir`` (which is then the same directory, or None for a store).
    export_url: str = ""
    #: The S3-compatible server of an ``s3://`` ``export_url`` (``http://minio:9000``);
    #: empty: ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, else AWS. Credentials are
    #: the AWS SDK's (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, roles).
    s3_endpoint_url: str = ""
    #: The region of the bucket; empty: the AWS SDK's (``AWS_REGION``, the profile).
    s3_region: str = ""
    #: Seconds between the incremental exports the core's background work runs into
    #: ``export_dir`` (one run per interval between all workers); 0 switches them off.
    export_interval_seconds: float = 5.0
    #: SMTP relay for the outbox. ``smtp_host`` empty means: write mail to ``mail_dir``.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "kippu <no-reply@kippu.invalid>"
    #: Where outgoing mail is stored as ``.eml`` files when no SMTP host is set.
    mail_dir: Path | None = None
    #: Messages per second the outbox sends at most, across every worker (one delivery
    #: job runs at a time); 0 leaves sending unpaced.
    mail_rate_per_second: float = 20.0
    #: Seconds a claimed (``sending``) message belongs to the delivery that claimed it; a
    #: message still ``sending`` after that was left by a crash and is sent again.
    mail_lease_seconds: float = 300.0
    #: Who runs the periodic background jobs (holds, reservations, mail, payments,
    #: exports): ``inprocess`` (each core process, for the SQLite embedded default) or
    #: ``queue`` (the procrastinate job queue on PostgreSQL, run by ``kippu worker``; the
    #: web processes then run none). Empty: ``inprocess`` on SQLite, ``queue`` otherwise.
    job_runner: str = ""
    #: Seconds without a heartbeat after which ``kippu worker`` takes a worker for dead
    #: and runs the jobs it held again.
    worker_stalled_seconds: float = 30.0
    #: Seconds a webhook endpoint has to answer one delivery attempt.
    webhook_timeout_seconds: float = 10.0
    #: Attempts of one webhook delivery before it is given up (state ``failed``).
    webhook_max_attempts: int = 10
    #: Seconds before the first retry of a failed webhook delivery; each further retry
    #: waits twice as long as the one before, at most six hours.
    webhook_retry_seconds: float = 30.0
    #: Deliver webhooks to loopback, private and link-local addresses too. Off by default:
    #: a facility's manager must not reach the deployment's internal network through
    #: kippu. Switch it on where the receivers are on the facility's own network.
    webhook_allow_private_targets: bool = False
    #: Minutes a checkout holds capacity before it returns by itself.
    hold_minutes: int = 15
    #: Send debug tracebacks to the browser. Never in production.
    debug: bool = False
    #: Addresses of the reverse proxies whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` are believed (comma-separated; ``*`` for any), as uvicorn's
    #: ``--forwarded-allow-ips``. The client address decides login throttling, so a
    #: header from anyone else is ignored.
    trusted_proxies: str = "127.0.0.1"
    #: Who bills the facilities their monthly system fee (F26): printed as the issuer of
    #: the statements, with its qualified-invoice registration number when it has one.
    platform_name: str = "kippu"
    platform_registration_number: str = ""
    #: The prefix of statement numbers (``<prefix>-<YYYYMM>-<facility id>``).
    statement_prefix: str = "KS"

    def __post_init__(self) -> None:
        # Derived defaults depend on var_dir, so they are filled in here rather than in
        # field defaults; frozen dataclasses need object.__setattr__ for that.
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{self.var_dir / 'kippu.sqlite3'}"
            )
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if self.export_url:
            local = local_path(self.export_url)
            object.__setattr__(self, "export_dir", local.resolve() if local else None)
        elif self.export_dir is None:
            object.__setattr__(self, "export_dir", self.var_dir / "exports")
        if self.mail_dir is None:
            object.__setattr__(self, "mail_dir", self.var_dir / "mail")
        if not self.job_runner:
            object.__setattr__(self, "job_runner", "inprocess" if self.is_sqlite else "queue")
        if self.job_runner not in JOB_RUNNERS:
            raise ValueError(f"KIPPU_JOB_RUNNER must be one of {', '.join(JOB_RUNNERS)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``KIPPU_<FIELD>`` variables; ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"KIPPU_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def export_location(self) -> str:
        """Where the exports go: the local directory, or the ``s3://`` URL."""
        return str(self.export_dir) if self.export_dir is not None else self.export_url

    @property
    def served_over_tls(self) -> bool:
        """Whether visitors reach the core by HTTPS: cookies are then ``Secure`` and
        responses carry HSTS."""
        return self.base_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _coerce(type_name: object, raw: str) -> object:
    text = str(type_name)
    if text.startswith("bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if text.startswith("int"):
        return int(raw)
    if text.startswith("float"):
        return float(raw)
    if "Path" in text:
        return Path(raw).resolve()
    return raw


def normalise_database_url(url: str) -> str:
    """Map plain driver URLs to the asyncio drivers the core uses."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url
