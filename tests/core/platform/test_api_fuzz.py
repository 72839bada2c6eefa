"""Fuzzing the JSON API (issue 16): schemathesis sends schema-fitting and schema-breaking
requests to every ``/api/`` operation of the OpenAPI schema the core serves, on a live
server over SQLite and PostgreSQL (NUL bytes and 64-bit overflows fail differently there),
authenticated as the demo facility's owner, kiosk or gate as each route needs.

Every answer must be: no 5xx; no traceback or SQL text in a refusal; every 4xx the
documented ``{"detail", "code"}`` JSON. Successful bodies (among them the binary ones: the
pass export zip) are not searched: they carry the fuzzer's own stored strings back. Examples are few and deterministic (``deterministic``, no
shrinking, no example database) so the run is repeatable and stays short on CI.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from schemathesis import Case
from schemathesis.core.transport import Response

from core_service.app import create_app
from core_service.demo.data import DEMO_PASSWORD, demo_staff_email
from core_service.platform.settings import Settings
from tests.conftest import _truncate_all, make_sqlite_settings, seed_demo
from tests.support.live_server import serve
from tests.support.platform import OPERATOR_EMAIL, OPERATOR_PASSWORD, make_operator

#: Part of the normal suite (``make test``); about a second per operation and database.
pytestmark = pytest.mark.slow

#: Examples per operation and generation mode (schema-fitting and schema-breaking): enough
#: to meet the boundaries schemathesis aims at (huge integers, NUL bytes, empty and long
#: strings), few enough that the whole run over both databases stays well under a minute.
MAX_EXAMPLES = 4

#: What must never reach a client: a Python traceback or the text of an SQL statement or
#: a driver's error (which would tell an attacker the schema).
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b"
    r"|sqlalchemy|asyncpg|aiosqlite|psycopg|sqlite3\.",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class LiveCore:
    base_url: str
    staff: dict[str, str]
    kiosk: dict[str, str]
    gate: dict[str, str]
    #: A second staff member's token for ``/auth/logout``, which ends every token of the
    #: member who calls it: logging out the owner would leave the rest of the run at 401.
    logout: dict[str, str]
    #: A manager for ``/staff``: a password reset or role change the fuzzer makes ends
    #: only that member's tokens, and a manager cannot touch the owner's.
    staff_admin: dict[str, str]
    #: Platform operators (``/platform/``): one for the routes, one to log out.
    operator: dict[str, str]
    operator_logout: dict[str, str]
    #: One connection pool for the run, closed before the server stops: a kept-alive
    #: connection left open makes uvicorn wait out its graceful shutdown.
    session: requests.Session

    def headers_for(self, path: str) -> dict[str, str]:
        if path.startswith("/api/v1/kiosk/"):
            return self.kiosk
        if path.startswith("/api/v1/gate/"):
            return self.gate
        if path == "/api/v1/auth/logout":
            return self.logout
        if path.startswith("/api/v1/staff"):
            return self.staff_admin
        if path == "/api/v1/platform/logout":
            return self.operator_logout
        if path.startswith("/api/v1/platform/"):
            return self.operator
        return self.staff


def _login(base_url: str, slug: str, role: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"facility": slug, "email": demo_staff_email(role, slug), "password": DEMO_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _operator(base_url: str, email: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/api/v1/platform/login", json={"email": email, "password": OPERATOR_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@contextmanager
def _live(settings: Settings) -> Iterator[LiveCore]:
    """The core with the demo facility on ``settings``' database, served on loopback."""
    demo = asyncio.run(seed_demo(settings))
    asyncio.run(make_operator(settings))
    asyncio.run(make_operator(settings, "ops2@platform.example"))
    with serve(create_app(settings, background=False)) as base_url, requests.Session() as session:
        yield LiveCore(
            base_url,
            staff=_login(base_url, demo.slug, "owner"),
            kiosk={"Authorization": f"Bearer {demo.kiosk_token}"},
            gate={"Authorization": f"Bearer {demo.gate_token}"},
            logout=_login(base_url, demo.slug, "viewer"),
            staff_admin=_login(base_url, demo.slug, "manager"),
            operator=_operator(base_url, OPERATOR_EMAIL),
            operator_logout=_operator(base_url, "ops2@platform.example"),
            session=session,
        )


# One server per database for the whole module, each its own unparametrised fixture: a
# shuffled order (pytest-randomly) that alternates the databases then only switches
# ``live_core`` (cheap) instead of seeding and starting a server again at every switch.
@pytest.fixture(scope="module")
def live_sqlite(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCore]:
    with _live(make_sqlite_settings(sqlite_template, tmp_path_factory.mktemp("fuzz"))) as live:
        yield live


@pytest.fixture(scope="module")
def live_postgres(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCore]:
    asyncio.run(_truncate_all(postgres_url))
    settings = Settings(
        database_url=postgres_url,
        var_dir=tmp_path_factory.mktemp("fuzz"),
        secret_key="fuzz-secret-key-for-kippu",
    )
    with _live(settings) as live:
        yield live


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_core(request: pytest.FixtureRequest) -> LiveCore:
    live: LiveCore = request.getfixturevalue(f"live_{request.param}")
    return live


def _served_schema() -> schemathesis.BaseSchema:
    """The OpenAPI document the core serves at ``/schema/openapi.json``, built from the
    app's route table (building the app opens no database), limited to the JSON API."""
    app = create_app(Settings(database_url="sqlite://", secret_key="x"), background=False)
    loaded = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
    loaded.config.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True, database="none"
    )
    return loaded.include(path_regex=r"^/api/")


schema = _served_schema()


def assert_well_answered(case: Case, response: Response) -> None:
    status = response.status_code
    content_type = ",".join(response.headers.get("content-type", []))
    text = response.content.decode("utf-8", "replace")
    where = f"{case.method} {case.formatted_path} -> {status}"
    assert status < 500, f"{where}: {text[:500]}"
    if status < 400:
        # A success may echo what the fuzzer stored (its dictionary holds words such as
        # "sqlalchemy.url"): only refusals are where internals would leak.
        return
    leak = LEAKS.search(text)
    assert leak is None, f"{where} leaks {leak.group(0)!r}: {text[:500]}"
    if status < 500:
        assert content_type.startswith("application/json"), f"{where}: {content_type} {text[:200]}"
        body = response.json()
        assert isinstance(body, dict), f"{where}: {text[:200]}"
        assert isinstance(body.get("detail"), str) and body["detail"], f"{where}: {text[:200]}"
        assert isinstance(body.get("code"), str) and body["code"], f"{where}: {text[:200]}"


@schema.parametrize()
def test_api_answers_every_generated_request_cleanly(case: Case, live_core: LiveCore) -> None:
    """No 5xx, no leaked internals, and the documented error shape, for any input."""
    response = case.call(
        base_url=live_core.base_url,
        session=live_core.session,
        headers=live_core.headers_for(case.path),
        timeout=30,
    )
    assert_well_answered(case, response)
