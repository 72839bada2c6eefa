"""Shared fixtures: databases on SQLite and PostgreSQL, the demo facility, app clients.

Migrations run once per test process into a template (a SQLite file that each test
copies; one PostgreSQL database per xdist worker that each test empties), so every test
starts from the real migrated schema without paying for the migrations again.

PostgreSQL is at ``KIPPU_TEST_POSTGRES_URL`` (default: the machine's server on
127.0.0.1:5432). Locally, without it, PostgreSQL tests skip with the reason; with
``CI=true`` a missing server fails the run instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo import data as demo_data
from core_service.demo.data import DemoFacility, seed_demo_facility
from core_service.models import Base
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings
from tests.support import migrated
from tests.support.csrf import FormClient

#: Fixture modules every test may use (registered here so pytest rewrites their asserts).
pytest_plugins = ("tests.support.web",)

POSTGRES_ADMIN_URL = os.environ.get(
    "KIPPU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-key-for-kippu"

#: Deprecations raised inside third-party libraries that kippu cannot avoid, each by
#: message and module. Bokeh 3.9's ColumnDataSource calls DataFrame.reset_index(inplace=True),
#: which pandas 3.1 deprecates; every Panel/HoloViews plot of a DataFrame goes through it.
#: Added as marks, not as ini filterwarnings: marks take precedence over the command line,
#: so ``pytest -W error::DeprecationWarning`` still fails on every other deprecation.
UNAVOIDABLE_WARNINGS = (
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated"
    ":DeprecationWarning:bokeh.models.sources",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for spec in UNAVOIDABLE_WARNINGS:
            item.add_marker(pytest.mark.filterwarnings(spec))


#: Argon2id at its cheapest settings, for the demo staff's password only (below).
_CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def _cheap_demo_password_hash(password: str) -> str:
    return _CHEAP_ARGON2.hash(password)


@pytest.fixture(scope="session", autouse=True)
def demo_password_hashed_cheaply() -> Iterator[None]:
    """The demo staff's password hash is made once per test process, with Argon2id's
    cheapest parameters.

    Production's parameters cost 0.15 to 0.5 s of CPU per hash *and* per check: most of
    each demo seed, and of every staff login in the API tests. The hash stays a real
    Argon2id hash that each login checks (a wrong password is still refused); the check
    reads its parameters from the hash, so it is cheap too. What the cost itself is for is
    tested on hashes made with production's parameters: the unknown-login dummy hash
    (``test_login_flood``), ``test_argon2_runs_off_the_event_loop`` and the My Page
    passwords. Seeding in other processes (``kippu demo``, ``kippu serve``) is untouched.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_data, "hash_new_password", _cheap_demo_password_hash)
        yield


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    return migrated.sqlite_template()


async def _postgres_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def _recreate_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _database_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test process, dropped at the end."""
    problem = asyncio.run(_postgres_reachable())
    if problem is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    # The pid keeps concurrent test runs on one machine out of each other's way.
    name = f"kippu_test_{_worker()}_{os.getpid()}"
    asyncio.run(_recreate_database(name))
    url = _database_url(name)
    upgrade_database(Settings(database_url=url))
    yield url
    asyncio.run(_drop_database(name))


#: The job queue's own tables (procrastinate's, made by migration 0012_job_queue).
JOB_QUEUE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


#: The sequences owned by the emptied tables' columns (serial and identity ids), which
#: ``TRUNCATE ... RESTART IDENTITY`` would restart.
_OWNED_SEQUENCES = """
SELECT s.oid::regclass::text FROM pg_class s
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE s.relkind = 'S' AND t.relname = ANY($1::text[])
"""


async def _truncate_all(url: str) -> None:
    """Empty every table and restart their id sequences: the end state of ``TRUNCATE
    ... RESTART IDENTITY CASCADE``, at a twentieth of its cost (0.03 s instead of 0.5 s
    a test: TRUNCATE makes new files for each of the ~40 tables and their indexes).

    ``session_replication_role = replica`` turns off triggers and foreign-key checks for
    this session only, so the order of the DELETEs does not matter and the
    ``config_version`` triggers do not fire on rows that are going anyway.
    """
    conn = await asyncpg.connect(url)
    try:
        names = [t.name for t in Base.metadata.sorted_tables] + list(JOB_QUEUE_TABLES)
        sequences = [row[0] for row in await conn.fetch(_OWNED_SEQUENCES, names)]
        statements = [f'DELETE FROM "{name}"' for name in names]
        statements += [f"ALTER SEQUENCE {seq} RESTART" for seq in sequences]
        try:
            await conn.execute(
                "SET session_replication_role = replica; "
                + "; ".join(statements)
                + "; RESET session_replication_role"
            )
        except asyncpg.InsufficientPrivilegeError:
            # Only a superuser may turn triggers off (KIPPU_TEST_POSTGRES_URL may name
            # another role): the slow, equivalent way.
            tables = ", ".join(f'"{name}"' for name in names)
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def make_sqlite_settings(template: Path, tmp_path: Path, **overrides: object) -> Settings:
    db = tmp_path / "kippu.sqlite3"
    shutil.copyfile(template, db)
    return Settings(
        database_url=f"sqlite:///{db}", var_dir=tmp_path, secret_key=TEST_SECRET, **overrides
    )


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings for a fresh, migrated SQLite database."""
    return make_sqlite_settings(sqlite_template, tmp_path)


@pytest.fixture
def postgres_settings(postgres_url: str, tmp_path: Path) -> Settings:
    """Settings for this worker's PostgreSQL database, emptied before the test."""
    asyncio.run(_truncate_all(postgres_url))
    return Settings(database_url=postgres_url, var_dir=tmp_path, secret_key=TEST_SECRET)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty database (no schema) on SQLite, then PostgreSQL: for tests
    that migrate step by step."""
    if request.param == "sqlite":
        yield Settings(
            database_url=f"sqlite:///{tmp_path}/empty.sqlite3",
            var_dir=tmp_path,
            secret_key=TEST_SECRET,
        )
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without a server
    name = f"kippu_empty_{_worker()}_{os.getpid()}"
    asyncio.run(_recreate_database(name))
    yield Settings(database_url=_database_url(name), var_dir=tmp_path, secret_key=TEST_SECRET)
    asyncio.run(_drop_database(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest) -> Settings:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_settings")


async def seed_demo(settings: Settings, **kwargs: object) -> DemoFacility:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return await seed_demo_facility(session, settings.secret_key, **kwargs)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


@pytest.fixture
async def demo(db_settings: Settings) -> DemoFacility:
    """The demo facility, seeded into the test's database."""
    return await seed_demo(db_settings)


@pytest.fixture
def app(db_settings: Settings) -> Litestar:
    return create_app(db_settings, background=False)


@pytest.fixture
async def client(app: Litestar, demo: DemoFacility) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # Visitor forms are posted with their CSRF token, as a browser does (tests/support/csrf.py).
    async with FormClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def kiosk_headers(demo: DemoFacility) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.kiosk_token}"}


@pytest.fixture
def gate_headers(demo: DemoFacility) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.gate_token}"}


@pytest.fixture
def in_ci() -> Iterator[bool]:
    yield IN_CI
