"""The ``kippu`` command: serve, workbench, kiosk, export, demo, db upgrade, gate scan,
payments reconcile.

Every command reads its settings from ``KIPPU_*`` environment variables (see
``docs/configuration.md``); options given here override them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import click

from core_service.platform.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """kippu: ticketing and operations for leisure facilities."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.group()
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the core service (web checkout, APIs)."""
    import uvicorn

    if workers > 1:
        uvicorn.run("core_service.asgi:app", host=host, port=port, workers=workers)
    else:
        from core_service.app import create_app

        uvicorn.run(create_app(_settings()), host=host, port=port)


@main.command()
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5006, show_default=True, type=int)
@click.option("--core-url", default=None, help="Core service URL (default: KIPPU_BASE_URL).")
def workbench(host: str, port: int, core_url: str | None) -> None:
    """Run the managers' Panel workbench."""
    from workbench.app import serve_workbench

    settings = _settings()
    serve_workbench(settings, port=port, address=host, core_url=core_url or settings.base_url)


@main.command()
def kiosk() -> None:
    """Run the kiosk driver (touch UI, printer, terminal) on this kiosk PC."""
    from kiosk_driver.app import run_kiosk
    from kiosk_driver.config import KioskConfig

    run_kiosk(KioskConfig.from_env())


@main.group()
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


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workbench-port", default=5006, show_default=True, type=int)
@click.option("--kiosk-port", default=8100, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="Create and seed the demo database, then stop.")
def demo(port: int, workbench_port: int, kiosk_port: int, seed_only: bool) -> None:
    """Seed the demo facility on SQLite and run core, workbench, kiosk and exporter."""
    from kippu_cli.demo import run_demo

    run_demo(
        var_dir=Path("var/demo").resolve(),
        port=port,
        workbench_port=workbench_port,
        kiosk_port=kiosk_port,
        seed_only=seed_only,
    )


@main.group()
def payments() -> None:
    """Online payment commands."""


@payments.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def payments_reconcile(as_json: bool) -> None:
    """Ask providers about pending payments, expire unpaid konbini slips, report differences.

    Exits with status 1 when the report lists differences or errors to look at.
    """
    from core_service.payments.reconciliation import reconcile
    from core_service.platform.database import make_engine, make_sessionmaker
    from core_service.platform.security import Signer
    from core_service.plugins.host import PluginHost, build_plugin_manager

    settings = _settings()

    async def run() -> dict[str, object]:
        engine = make_engine(settings)
        try:
            report = await reconcile(
                make_sessionmaker(engine),
                PluginHost(build_plugin_manager()),
                settings,
                Signer(settings.secret_key),
            )
        finally:
            await engine.dispose()
        click.echo(
            json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
            if as_json
            else report.summary()
        )
        return report.as_dict()

    result = asyncio.run(run())
    raise SystemExit(1 if result["differences"] or result["errors"] else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
