"""The core's subcommands of ``kippu``: serve, worker, jobs, db upgrade, export, gate scan,
payments reconcile, billing plan/issue, platform operator add.

Each is registered in the ``kippu.commands`` entry-point group and found by
:mod:`kippu_cli`; none of them knows the kiosk driver or the workbench. Every command
reads its settings from ``KIPPU_*`` environment variables (see
``docs/configuration.md``); options given here override them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING

import click

from core_service.platform.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core_service.models import Facility


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (the only way the schema is made)."""
    from core_service.platform.database import upgrade_database

    settings = _settings()
    upgrade_database(settings, revision)
    click.echo(f"database at {settings.database_url} is at {revision}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="A line per request on stdout; off behind a proxy that logs them (saves CPU per scan).",
)
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Run the core service (web checkout, APIs)."""
    import uvicorn

    settings = _settings()
    # uvicorn takes the client address from X-Forwarded-For only from these proxies.
    proxies = settings.trusted_proxies
    if workers > 1:
        uvicorn.run(
            "core_service.asgi:app", host=host, port=port, workers=workers,
            proxy_headers=True, forwarded_allow_ips=proxies, access_log=access_log,
        )  # fmt: skip
    else:
        from core_service.app import create_app

        uvicorn.run(
            create_app(settings), host=host, port=port,
            proxy_headers=True, forwarded_allow_ips=proxies, access_log=access_log,
        )  # fmt: skip


@click.command()
@click.option("--follow", is_flag=True, help="Keep exporting every few seconds.")
@click.option("--interval", default=3.0, show_default=True, type=float)
def export(follow: bool, interval: float) -> None:
    """Write incremental Parquet exports (no personal data)."""
    from core_service.exports.exporter import follow_exports, run_export

    settings = _settings()
    if follow:
        follow_exports(settings, interval_seconds=interval)
    else:
        report = run_export(settings)
        click.echo(str(report))


@click.group()
def gate() -> None:
    """Gate scanner commands."""


@gate.command("scan")
@click.argument("token")
@click.option("--direction", default="entry", type=click.Choice(["entry", "exit", "ride"]))
@click.option("--core-url", default=None)
@click.option("--device-token", envvar="KIPPU_GATE_TOKEN", required=True, help="Gate device token.")
def gate_scan(token: str, direction: str, core_url: str | None, device_token: str) -> None:
    """Scan one QR token at a gate and print the result."""
    import httpx

    url = (core_url or _settings().base_url).rstrip("/") + "/api/v1/gate/scan"
    response = httpx.post(
        url,
        json={"token": token, "direction": direction},
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=10,
    )
    body = response.json()
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    raise SystemExit(0 if body.get("admitted") else 1)


@click.group()
def payments() -> None:
    """Online payment commands."""


@payments.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def payments_reconcile(as_json: bool) -> None:
    """Ask providers about pending payments, expire unpaid konbini slips, report differences.

    Exits with status 1 when the report lists differences or errors to look at.
    """
    from core_service.jobs.resources import open_resources
    from core_service.payments.reconciliation import reconcile

    async def run() -> dict[str, object]:
        async with open_resources(_settings()) as r:
            report = await reconcile(r.sessionmaker, r.plugin_host, r.settings, r.signer)
        click.echo(
            json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
            if as_json
            else report.summary()
        )
        return report.as_dict()

    result = asyncio.run(run())
    raise SystemExit(1 if result["differences"] or result["errors"] else 0)


@click.command()
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs this process runs at once.",
)
def worker(concurrency: int) -> None:
    """Run the background jobs from the job queue (PostgreSQL deployments).

    Start one or more beside the core's web processes; each periodic job runs once per
    period between all of them (docs/jobs.md).
    """
    from core_service.jobs.worker import run_worker

    settings = _settings()
    if settings.job_runner != "queue":
        raise click.UsageError(
            "kippu worker runs the PostgreSQL job queue; with SQLite (KIPPU_JOB_RUNNER="
            f"{settings.job_runner}) the core process runs its jobs itself."
        )
    asyncio.run(run_worker(settings, concurrency=concurrency))


@click.group()
def jobs() -> None:
    """Background job commands."""


@jobs.command("list")
def jobs_list() -> None:
    """The periodic jobs and how often they run with the current settings."""
    from core_service.jobs.definitions import PERIODIC_JOBS

    settings = _settings()
    click.echo(f"runner: {settings.job_runner}")
    for job in PERIODIC_JOBS:
        period = job.period(settings)
        every = f"every {period:g} s" if period > 0 else "off"
        click.echo(f"{job.name:<20} {every:<14} {job.description}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run one periodic job once, now, in this process."""
    from core_service.jobs.definitions import JOBS_BY_NAME
    from core_service.jobs.resources import open_resources

    job = JOBS_BY_NAME.get(name)
    if job is None:
        raise click.BadParameter(f"no job {name!r}; see `kippu jobs list`", param_hint="NAME")

    async def run() -> object:
        async with open_resources(_settings()) as resources:
            return await job.run(resources)

    click.echo(str(asyncio.run(run())))


@click.group()
def billing() -> None:
    """The platform's monthly system fee per facility (F26)."""


@billing.command("plan")
@click.argument("facility_slug")
@click.option("--plan", "plan_name", default="standard", show_default=True)
@click.option(
    "--fee", type=int, default=50_000, show_default=True, help="Yen per month, before tax."
)
@click.option("--tax-rate", type=int, default=10, show_default=True)
@click.option(
    "--from",
    "valid_from",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="First day of the plan (YYYY-MM-DD).",
)
def billing_plan(
    facility_slug: str, plan_name: str, fee: int, tax_rate: int, valid_from: dt.datetime
) -> None:
    """Put FACILITY_SLUG on a plan from a date on."""
    from core_service.billing.statements import set_plan

    async def run() -> str:
        async with _facility_session(facility_slug) as (session, facility):
            row = await set_plan(
                session,
                facility,
                plan=plan_name,
                monthly_fee=fee,
                tax_rate=tax_rate,
                valid_from=valid_from.date(),
                actor="cli",
            )
            return (
                f"{facility.slug}: {row.plan} {row.monthly_fee:,} yen/month from {row.valid_from}"
            )

    click.echo(asyncio.run(run()))


@billing.command("issue")
@click.argument("month", required=False)
def billing_issue(month: str | None) -> None:
    """Issue MONTH's statements (YYYY-MM; default: last month). Issued ones stay as issued."""
    from core_service.billing.statements import Month, issue_month
    from core_service.jobs.resources import open_resources
    from core_service.models import utcnow

    async def run() -> list[str]:
        settings = _settings()
        chosen = Month.parse(month) if month else Month.before(utcnow().date())
        async with open_resources(settings) as r, r.sessionmaker() as session:
            issued = await issue_month(
                session, chosen, prefix=settings.statement_prefix, actor="cli"
            )
            return [f"{s.number} {s.month} {s.total:,} yen" for s in issued]

    for line in asyncio.run(run()):
        click.echo(line)


@contextlib.asynccontextmanager
async def _facility_session(slug: str) -> AsyncIterator[tuple[AsyncSession, Facility]]:
    import sqlalchemy as sa

    from core_service.jobs.resources import open_resources
    from core_service.models import Facility

    async with open_resources(_settings()) as r, r.sessionmaker() as session:
        facility = await session.scalar(sa.select(Facility).where(Facility.slug == slug))
        if facility is None:
            raise click.ClickException(f"No facility {slug!r}.")
        yield session, facility


@click.group()
def platform() -> None:
    """The deployment's platform operators, who create facilities (issue 17)."""


@platform.group("operator")
def platform_operator() -> None:
    """Platform operator accounts."""


@platform_operator.command("add")
@click.argument("email")
@click.option(
    "--password-file",
    type=click.File("r"),
    default=None,
    help="Read the password from this file (its first line); '-' reads standard input.",
)
def platform_operator_add(email: str, password_file: IO[str] | None) -> None:
    """Create the operator EMAIL; the password comes from --password-file, from
    KIPPU_OPERATOR_PASSWORD, or from a prompt (typed twice, not echoed)."""
    import os

    from core_service.accounts.operators import add_operator
    from core_service.jobs.resources import open_resources
    from core_service.platform.errors import KippuError

    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    elif os.environ.get("KIPPU_OPERATOR_PASSWORD"):
        password = os.environ["KIPPU_OPERATOR_PASSWORD"]
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> str:
        async with open_resources(_settings()) as r, r.sessionmaker() as session:
            operator = await add_operator(session, email, password)
            return operator.email

    try:
        created = asyncio.run(run())
    except KippuError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"platform operator {created} created; log in at /platform/")
