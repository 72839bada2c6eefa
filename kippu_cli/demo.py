"""``kippu demo``: seed the demo facility on SQLite and run every part side by side.

Starts the core service (which also keeps the Parquet exports fresh in its background
work), the workbench and a kiosk driver with a file printer, as child processes of this
one (each through its own ``kippu`` subcommand), then prints where everything is. No
separate exporter runs: the single core worker exports every
``KIPPU_EXPORT_INTERVAL_SECONDS`` itself, with the database it already has open. Ctrl-C stops them all. Re-running reuses
the seeded database (``make clean-demo`` forgets it). This is the one place that knows
every part: it needs ``kippu[all]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import sqlalchemy as sa

from core_service.demo.data import DEMO_PASSWORD, DEMO_SLUG, demo_staff_email, seed_demo_facility
from core_service.kiosks.devices import create_device
from core_service.models import Device, Facility
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings
from kippu_contract.roles import ROLES

TOKENS_FILE = "demo-tokens.json"


def demo_settings(var_dir: Path, port: int) -> Settings:
    return Settings(var_dir=var_dir, base_url=f"http://127.0.0.1:{port}")


async def _seed_once(settings: Settings) -> dict[str, str]:
    """Seed the demo facility unless it exists; returns its device tokens."""
    tokens_path = settings.var_dir / TOKENS_FILE
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            exists = await session.scalar(sa.select(Facility.id).where(Facility.slug == DEMO_SLUG))
            if exists is not None and tokens_path.exists():
                saved: dict[str, str] = json.loads(tokens_path.read_text())
                return saved
            if exists is not None:
                raise SystemExit(
                    f"{settings.var_dir} holds a demo without tokens; run `make clean-demo`."
                )
            demo = await seed_demo_facility(session, settings.secret_key)
    finally:
        await engine.dispose()
    tokens = {"kiosk": demo.kiosk_token, "gate": demo.gate_token}
    tokens_path.write_text(json.dumps(tokens))
    tokens_path.chmod(0o600)
    return tokens


#: The gate device the /gate/ scanner page of the demo enrols as.
BROWSER_GATE_NAME = "Browser gate / ブラウザゲート"


async def _browser_gate_code(settings: Settings) -> str:
    """A fresh enrolment code for the demo's browser gate, on every start.

    Codes are shown once and expire (``ENROLMENT_VALID_FOR``), so the demo cannot print a
    saved one. A browser gate that has not enrolled yet gets a new code instead of a second
    device, so restarting the demo does not pile up devices.
    """
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            facility_id = await session.scalar(
                sa.select(Facility.id).where(Facility.slug == DEMO_SLUG)
            )
            if facility_id is None:
                raise SystemExit("the demo facility is missing; run `make clean-demo`.")
            waiting = await session.scalar(
                sa.select(Device).where(
                    Device.facility_id == facility_id,
                    Device.kind == "gate",
                    Device.name == BROWSER_GATE_NAME,
                    Device.token_hash.is_(None),
                    Device.revoked_at.is_(None),
                )
            )
            if waiting is not None:
                await session.delete(waiting)
            created = await create_device(session, facility_id, "gate", BROWSER_GATE_NAME)
            await session.commit()
            return created.enrolment_code
    finally:
        await engine.dispose()


#: What only the core may know: the clients get the environment without them.
CORE_ONLY = ("KIPPU_DATABASE_URL", "KIPPU_SECRET_KEY")


def _environment(settings: Settings) -> dict[str, str]:
    """The core's environment; the workbench and kiosk get it less :data:`CORE_ONLY`."""
    env = dict(os.environ)
    env.update(
        {
            "KIPPU_VAR_DIR": str(settings.var_dir),
            "KIPPU_DATABASE_URL": settings.database_url,
            "KIPPU_BASE_URL": settings.base_url,
            "KIPPU_SECRET_KEY": settings.secret_key,
            "KIPPU_EXPORT_DIR": str(settings.export_dir),
        }
    )
    # The demo exports into its own directory, even where a store is configured.
    env.pop("KIPPU_EXPORT_URL", None)
    return env


def _client_environment(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in CORE_ONLY}


def _wait_until_up(url: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def run_demo(
    *, var_dir: Path, port: int, workbench_port: int, kiosk_port: int, seed_only: bool
) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(var_dir, port)
    upgrade_database(settings)
    tokens = asyncio.run(_seed_once(settings))
    if seed_only:
        print(f"demo database ready at {settings.database_url}")
        return
    env = _environment(settings)
    kippu = [sys.executable, "-m", "kippu_cli"]
    kiosk_env = _client_environment(env) | {
        "KIPPU_KIOSK_CORE_URL": settings.base_url,
        "KIPPU_KIOSK_TOKEN": tokens["kiosk"],
        "KIPPU_KIOSK_PRINTER": f"file:{var_dir / 'kiosk-printer.bin'}",
        "KIPPU_KIOSK_JOURNAL": str(var_dir / "kiosk-journal.sqlite3"),
        "KIPPU_KIOSK_PORT": str(kiosk_port),
    }
    children = [subprocess.Popen([*kippu, "serve", "--port", str(port)], env=env)]
    if not _wait_until_up(f"{settings.base_url}/healthz"):
        _stop(children)
        raise SystemExit("the core service did not start; see its output above")
    children += [
        subprocess.Popen(
            [*kippu, "workbench", "--port", str(workbench_port)], env=_client_environment(env)
        ),
        subprocess.Popen([*kippu, "kiosk"], env=kiosk_env),
    ]
    gate_code = asyncio.run(_browser_gate_code(settings))
    _print_welcome(settings, tokens, gate_code, workbench_port, kiosk_port)
    # A terminal closing or a supervisor stopping the demo must stop the children too.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def _print_welcome(
    settings: Settings,
    tokens: dict[str, str],
    gate_code: str,
    workbench_port: int,
    kiosk_port: int,
) -> None:
    logins = "\n".join(f"    {role:8} {demo_staff_email(role)}" for role in reversed(ROLES))
    print(
        f"""
==========================================================================
 kippu demo: Kippu Adventure Park / キップ・アドベンチャーパーク
--------------------------------------------------------------------------
 Web checkout   {settings.base_url}/shop/{DEMO_SLUG}/
 My Page        {settings.base_url}/shop/{DEMO_SLUG}/my
 Kiosk (touch)  http://127.0.0.1:{kiosk_port}/
 Workbench      http://127.0.0.1:{workbench_port}/   (facility: {DEMO_SLUG})
 Staff logins (password for all: {DEMO_PASSWORD}):
{logins}
 Gate scanner   {settings.base_url}/gate/   (enrolment code: {gate_code}, valid 24 h)
 Gate scan      KIPPU_GATE_TOKEN={tokens["gate"]} \\
                  .venv/bin/kippu gate scan --core-url {settings.base_url} '<QR text>'
 Outgoing mail  {settings.mail_dir}/*.eml
 Kiosk printer  {settings.var_dir / "kiosk-printer.bin"} (raw ESC/POS bytes)
 Exports        {settings.export_dir}
 Notebook       .venv/bin/pip install -e '.[notebooks]' and then
                  KIPPU_EXPORT_DIR={settings.export_dir} .venv/bin/jupyter lab notebooks/
 Stop with Ctrl-C.
==========================================================================
""",
        flush=True,
    )


@click.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workbench-port", default=5006, show_default=True, type=int)
@click.option("--kiosk-port", default=8100, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="Create and seed the demo database, then stop.")
def demo(port: int, workbench_port: int, kiosk_port: int, seed_only: bool) -> None:
    """Seed the demo facility on SQLite and run core (exporting), workbench and kiosk."""
    run_demo(
        var_dir=Path("var/demo").resolve(),
        port=port,
        workbench_port=workbench_port,
        kiosk_port=kiosk_port,
        seed_only=seed_only,
    )
