"""deploy/compose.yaml, started the way it is written, on this machine.

The compose file cannot run here (no container runtime in CI), so this test reads it and
starts every kippu service with the service's own command and environment, replicas
included: the schema migration, three `kippu serve` processes, two `kippu worker`
processes and the workbench, with the compose hostnames (postgres, mail, proxy) pointed at
PostgreSQL, an SMTP server, an S3-compatible store (moto in server mode, standing in for
MinIO, with the compose file's bucket, prefix and credentials) and the core processes on
loopback. A web order placed on one core and paid on another, and a kiosk sale on a
third, then get their confirmation mail from a worker, once, and reach the exports in the
store.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core_service.platform.csrf import FORM_FIELD
from core_service.platform.settings import Settings
from kippu_contract.export_store import ExportStore
from tests.conftest import seed_demo
from tests.support import REPO_ROOT
from tests.support.csrf import fetch_token
from tests.support.live_server import free_port
from tests.support.processes import (
    KIPPU,
    settings_environment,
    start,
    stop,
    wait_for,
    wait_until_serving,
)
from tests.support.s3 import create_bucket, s3_endpoint  # noqa: F401 (a fixture)
from tests.support.smtp import smtp_server
from tests.support.web import Shop, checkout_form, pay_with_demo, product_url
from workbench.data_access import ExportSource

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

COMPOSE = REPO_ROOT / "deploy" / "compose.yaml"
KIPPU_SERVICES = ("migrate", "core", "worker", "workbench")
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def load_compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise AssertionError(f"compose needs {name}: {rest}")
        return rest if kind == "-" else ""

    return _VARIABLE.sub(one, str(value))


def service_environment(
    service: Mapping[str, Any], variables: Mapping[str, str], hosts: Mapping[str, str]
) -> dict[str, str]:
    """A service's environment as compose would give it, compose hostnames replaced by
    their loopback stand-ins."""
    env = {}
    for key, raw in service.get("environment", {}).items():
        value = interpolate(raw, variables)
        for compose_host, local in hosts.items():
            value = value.replace(compose_host, local)
        env[key] = value
    return env


def with_option(command: list[str], option: str, value: str) -> list[str]:
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


def test_the_compose_file_names_only_settings_kippu_reads() -> None:
    services = load_compose()["services"]
    known = {f"KIPPU_{name.upper()}" for name in Settings.__dataclass_fields__}
    known |= {"KIPPU_WORKBENCH_SECRET_KEY", "KIPPU_WORKBENCH_ORIGINS", "KIPPU_EXPORT_DIR"}
    for name in KIPPU_SERVICES:
        assert services[name]["command"][0] == "kippu"
        unknown = {k for k in services[name]["environment"] if k.startswith("KIPPU_")} - known
        assert not unknown, (name, unknown)
    workbench = services["workbench"]["environment"]
    # The workbench never touches the OLTP database, nor holds the core's secret.
    assert "KIPPU_DATABASE_URL" not in workbench and "KIPPU_SECRET_KEY" not in workbench
    assert services["core"]["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2


class Deployment:
    """The kippu processes of the compose file, started on loopback."""

    def __init__(self, settings: Settings, tmp_path: Path, smtp_port: int, s3_url: str) -> None:
        self.compose = load_compose()["services"]
        self.settings = settings
        self.tmp_path = tmp_path
        self.core_ports = [free_port() for _ in range(self.replicas("core"))]
        self.workbench_port = free_port()
        database = settings.database_url.replace("+asyncpg", "")
        self.variables = {
            "KIPPU_SECRET_KEY": settings.secret_key,
            "KIPPU_WORKBENCH_SECRET_KEY": "workbench-secret-for-the-deployment-test",
            "KIPPU_BASE_URL": self.core_url(0),
            "KIPPU_SMTP_PORT": str(smtp_port),
            "KIPPU_WORKBENCH_ORIGINS": f"127.0.0.1:{self.workbench_port}",
        }
        self.hosts = {
            "postgresql://kippu:kippu@postgres:5432/kippu": database,
            "http://proxy:80": self.core_url(0),
            "http://s3:9000": s3_url,
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def export_store(self) -> ExportStore:
        """The exports as the workbench service reads them: the compose file's URL on the
        loopback store."""
        env = self.environment("workbench")
        return ExportStore.open(
            env["KIPPU_EXPORT_URL"],
            endpoint_url=env["KIPPU_S3_ENDPOINT_URL"],
            region=env["KIPPU_S3_REGION"],
        )

    def replicas(self, name: str) -> int:
        return int(self.compose[name].get("deploy", {}).get("replicas", 1))

    def core_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.core_ports[index]}"

    def environment(self, name: str) -> dict[str, str]:
        env = service_environment(self.compose[name], self.variables, self.hosts)
        if env.get("KIPPU_SMTP_HOST") == "mail":
            env["KIPPU_SMTP_HOST"] = "127.0.0.1"
        base = settings_environment(self.settings)
        for key in ("KIPPU_DATABASE_URL", "KIPPU_SECRET_KEY"):
            base.pop(key)
        return {**base, **env}

    def run(self, name: str, command: list[str] | None = None, *, replica: int = 0) -> None:
        command = command or list(self.compose[name]["command"])
        log = self.tmp_path / f"{name}-{replica}.log"
        self.processes.append(start(command[1:], self.environment(name), log))

    def start_all(self) -> None:
        migrate = self.compose["migrate"]["command"]
        done = subprocess.run(
            [str(KIPPU), *migrate[1:]],
            env=self.environment("migrate"),
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        for i in range(self.replicas("core")):
            command = with_option(
                list(self.compose["core"]["command"]), "--port", str(self.core_ports[i])
            )
            self.run("core", command, replica=i)
        for i in range(self.replicas("worker")):
            self.run("worker", replica=i)
        command = with_option(
            list(self.compose["workbench"]["command"]), "--port", str(self.workbench_port)
        )
        self.run("workbench", command)
        for i, process in enumerate(self.processes[: self.replicas("core")]):
            wait_until_serving(self.core_url(i) + "/healthz", process)

    def stop_all(self) -> list[int]:
        return [stop(p) for p in self.processes]

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp_path.glob("*.log")
        )


@pytest.fixture
def deployment(
    postgres_settings: Settings,
    tmp_path: Path,
    s3_endpoint: str,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Deployment, Any]]:
    with smtp_server() as (inbox, port):
        deployed = Deployment(postgres_settings, tmp_path, port, s3_endpoint)
        # This process reads the store with the workbench's credentials.
        for key, value in deployed.environment("workbench").items():
            if key.startswith("AWS_"):
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # What compose's `s3-bucket` service does: create the exports' bucket.
        create_bucket(s3_endpoint, deployed.export_store().root.split("/", 1)[0])
        try:
            yield deployed, inbox
        finally:
            codes = deployed.stop_all()
            assert all(code in (0, -15) for code in codes), (codes, deployed.logs())


async def _sell(deployed: Deployment, shop: Shop, kiosk_token: str, adult_id: int) -> None:
    web = [httpx.AsyncClient(base_url=deployed.core_url(i), timeout=30) for i in range(3)]
    try:
        token = await fetch_token(web[0], product_url(shop))
        checkout = await web[0].post(
            product_url(shop), data={**checkout_form(shop), FORM_FIELD: token}
        )
        # The payment page is served by another core process than the checkout.
        paid = await pay_with_demo(web[1], checkout)
        assert paid.status_code == 200
        kiosk = await web[2].post(
            "/api/v1/kiosk/orders",
            json={
                "lines": [{"price_category_id": adult_id, "quantity": 1}],
                "answers": {"consent_waiver": True},
                "payment": {"method": "card", "reference": "term-1", "amount": 2000},
                "locale": "ja",
            },
            headers={"Authorization": f"Bearer {kiosk_token}", "Idempotency-Key": "deploy-1"},
        )
        assert kiosk.status_code == 201, kiosk.text
    finally:
        for client in web:
            await client.aclose()


def test_the_compose_services_sell_mail_and_export_together(
    deployment: tuple[Deployment, Any], postgres_settings: Settings
) -> None:
    deployed, inbox = deployment
    demo = asyncio.run(seed_demo(postgres_settings))
    shop = Shop(
        demo.facility_id,
        demo.slug,
        demo.day_ticket_id,
        demo.adult_category_id,
        demo.child_category_id,
        "",
    )
    deployed.start_all()
    try:
        asyncio.run(_sell(deployed, shop, demo.kiosk_token, demo.adult_category_id))
        wait_for(lambda: len(inbox.messages) >= 1, timeout=60, what="the confirmation mail")
        exports = deployed.export_store()

        def both_orders_exported() -> bool:
            try:
                rows = ExportSource(exports).sql("SELECT channel FROM orders")
            except Exception:  # no export yet
                return False
            return sorted(rows["channel"]) == ["kiosk", "web"]

        wait_for(both_orders_exported, timeout=60, what="both orders in the exports")
        wait_until_serving(
            f"http://127.0.0.1:{deployed.workbench_port}/login", deployed.processes[-1]
        )
        time.sleep(3)  # another few periods of every job: still one mail
    except BaseException:
        print(deployed.logs())
        raise
    (mail,) = inbox.messages  # one confirmation, from one of the workers
    assert str(mail["To"]).lower() == "hanako@example.jp"
