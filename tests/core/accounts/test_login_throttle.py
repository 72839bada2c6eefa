"""Login throttling (issue 16, 18.1): per login and address, per address, never a lockout.

Password guessing pauses a login only from the address that guessed, so nobody can pause
a manager's login from elsewhere; an address guessing at many logins pauses too. Paused
attempts answer 429 with Retry-After before any Argon2 work. Argon2 itself runs off the
event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.accounts.service import authenticate
from core_service.demo.data import DEMO_PASSWORD, DEMO_SLUG, DemoFacility, demo_staff_email
from core_service.models import LoginAttempt
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import TooManyAttempts, Unauthorized
from core_service.platform.security import hash_password, verify_password_in_thread
from core_service.platform.settings import Settings

OWNER = demo_staff_email("owner")
MANAGER = demo_staff_email("manager")
ATTACKER = "203.0.113.7"
OFFICE = "198.51.100.20"


@pytest.fixture
async def session(db_settings: Settings, demo: DemoFacility) -> AsyncIterator[AsyncSession]:
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as opened:
        yield opened
    await engine.dispose()


async def _log_in(session: AsyncSession, email: str, password: str, address: str) -> str:
    """How the login ended: "ok", "wrong" or "paused"."""
    try:
        await authenticate(session, DEMO_SLUG, email, password, address)
    except Unauthorized:
        return "wrong"
    except TooManyAttempts:
        return "paused"
    return "ok"


async def test_guessing_pauses_the_login_only_from_the_guessing_address(
    session: AsyncSession,
) -> None:
    outcomes = [await _log_in(session, OWNER, f"guess {n}", ATTACKER) for n in range(5)]
    assert outcomes == ["wrong"] * 5
    # Paused from there, even with the right password...
    assert await _log_in(session, OWNER, DEMO_PASSWORD, ATTACKER) == "paused"
    # ...but the owner, at the office, logs in as ever: no one can lock them out.
    assert await _log_in(session, OWNER, DEMO_PASSWORD, OFFICE) == "ok"
    # Another login from the guessing address is not paused by this one's failures.
    assert await _log_in(session, MANAGER, DEMO_PASSWORD, ATTACKER) == "ok"


async def test_an_address_guessing_at_many_logins_pauses(session: AsyncSession) -> None:
    logins = [f"nobody{n}@example.jp" for n in range(login_throttle.MAX_PER_ADDRESS)]
    for login in logins:  # one guess each: no single login reaches its own limit
        assert await _log_in(session, login, "guess", ATTACKER) == "wrong"
    assert await _log_in(session, MANAGER, DEMO_PASSWORD, ATTACKER) == "paused"
    assert await _log_in(session, MANAGER, DEMO_PASSWORD, OFFICE) == "ok"


async def test_refusals_do_not_prolong_the_pause_and_it_lifts(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        await _log_in(session, OWNER, f"guess {n}", ATTACKER)
    for _ in range(3):
        assert await _log_in(session, OWNER, DEMO_PASSWORD, ATTACKER) == "paused"
    # Only the five failures are stored, none of the refusals.
    assert await session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 5
    later = time.time() + login_throttle.WINDOW_SECONDS + 1
    monkeypatch.setattr(login_throttle.time, "time", lambda: later)
    assert await _log_in(session, OWNER, DEMO_PASSWORD, ATTACKER) == "ok"
    # Old failures are deleted as new attempts come; a success clears its own.
    assert await session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0


async def test_a_paused_login_answers_429_with_retry_after(client: AsyncTestClient) -> None:
    body = {"facility": DEMO_SLUG, "email": OWNER}
    for n in range(5):
        wrong = await client.post("/api/v1/auth/login", json=body | {"password": f"guess {n}"})
        assert wrong.status_code == 401
    paused = await client.post(
        "/api/v1/auth/login",
        json=body | {"password": DEMO_PASSWORD},
        headers={"Accept-Language": "en"},
    )
    assert paused.status_code == 429
    assert 0 < int(paused.headers["retry-after"]) <= login_throttle.WINDOW_SECONDS
    assert paused.json()["code"] == "too_many_attempts"
    assert "try again in 15 minutes" in paused.json()["detail"]
    assert "token" not in paused.json()


@pytest.mark.postgres
async def test_concurrent_guesses_get_exactly_the_allowed_password_checks(
    postgres_settings: Settings,
) -> None:
    from tests.conftest import seed_demo

    await seed_demo(postgres_settings)
    engine = make_engine(postgres_settings, pool_size=20, max_overflow=0)
    sessions = make_sessionmaker(engine)

    async def guess(n: int) -> str:
        async with sessions() as own:
            return await _log_in(own, OWNER, f"guess {n}", ATTACKER)

    outcomes = await asyncio.gather(*(guess(n) for n in range(20)))
    await engine.dispose()
    # Counting up to each attempt's own id: the first five check a password, no more.
    assert sorted(outcomes) == ["paused"] * 15 + ["wrong"] * 5


async def test_argon2_runs_off_the_event_loop() -> None:
    stored = hash_password("a long enough password")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    assert await verify_password_in_thread(stored, "a long enough password")
    elapsed = time.perf_counter() - started
    ticker.cancel()
    # The loop kept turning while the hash was checked: on the loop itself it could not
    # have ticked at all until the check returned.
    assert ticks >= max(2, int(elapsed / 0.005) // 4)
