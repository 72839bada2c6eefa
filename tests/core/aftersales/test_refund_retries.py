"""Failed refunds are retried by the ``retry_refunds`` job with back-off and the same
idempotency key, stop after a limit, and stay visible in ``GET /api/v1/refunds``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from core_service.aftersales import refund_retries
from core_service.aftersales.refund_retries import MAX_AUTOMATIC_ATTEMPTS, retry_due_refunds
from core_service.demo.data import DemoFacility
from core_service.jobs.definitions import JOBS_BY_NAME
from core_service.jobs.resources import open_resources
from core_service.models import utcnow
from core_service.payments.provider import ProviderUnavailable
from core_service.platform.settings import Settings
from kippu_plugins.demo_payments import DemoProvider
from tests.support.aftersales import buy_online, staff_headers


class Provider:
    """The demo provider, down until ``up`` is set; records every key it is sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.up = False
        self.keys: list[str] = []
        original = DemoProvider.refund
        provider = self

        async def refund(
            self: DemoProvider, ref: str, amount: int, *, idempotency_key: str, reason: str = ""
        ) -> Any:
            provider.keys.append(idempotency_key)
            if not provider.up:
                raise ProviderUnavailable()
            return await original(self, ref, amount, idempotency_key=idempotency_key, reason=reason)

        monkeypatch.setattr(DemoProvider, "refund", refund)


async def _failed_refund(client: AsyncTestClient[Any], demo: DemoFacility) -> tuple[str, int]:
    code, _key = await buy_online(client, demo)
    headers = {**await staff_headers(client, demo), "Idempotency-Key": str(uuid.uuid4())}
    body = (await client.post(f"/api/v1/orders/{code}/cancel", json={}, headers=headers)).json()
    assert body["refund"]["state"] == "failed", body
    return code, int(body["refund"]["id"])


async def _run(settings: Settings, now: dt.datetime) -> refund_retries.RetryReport:
    async with open_resources(settings) as resources:
        return await retry_due_refunds(
            resources.sessionmaker, resources.plugin_host, settings, now=now
        )


async def _refunds(client: AsyncTestClient[Any], demo: DemoFacility, **params: str) -> Any:
    response = await client.get(
        "/api/v1/refunds", params=params, headers=await staff_headers(client, demo)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_failed_refund_is_sent_again_after_its_backoff_with_the_same_key(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = Provider(monkeypatch)
    code, refund_id = await _failed_refund(client, demo)
    provider.up = True
    # Not due yet: the first back-off is minutes, not seconds.
    assert (await _run(db_settings, utcnow())).sent == 0
    assert len(provider.keys) == 1
    report = await _run(db_settings, utcnow() + refund_retries.FIRST_BACKOFF * 1.5)
    assert (report.sent, report.failed) == (1, 0)
    assert len(provider.keys) == 2 and provider.keys[0] == provider.keys[1]
    [row] = await _refunds(client, demo)
    assert (row["id"], row["order_code"], row["state"], row["attempts"]) == (
        refund_id,
        code,
        "refunded",
        2,
    )
    # Done: a later run sends nothing.
    assert (await _run(db_settings, utcnow() + dt.timedelta(days=1))).sent == 0
    assert len(provider.keys) == 2


async def test_the_job_gives_up_after_its_limit_and_staff_see_the_refund(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = Provider(monkeypatch)
    code, refund_id = await _failed_refund(client, demo)
    later = utcnow()
    for _ in range(MAX_AUTOMATIC_ATTEMPTS + 3):
        later += refund_retries.MAX_BACKOFF + dt.timedelta(minutes=1)
        await _run(db_settings, later)
    assert len(provider.keys) == MAX_AUTOMATIC_ATTEMPTS
    [failed] = await _refunds(client, demo, state="failed")
    assert failed["id"] == refund_id and failed["order_code"] == code
    assert failed["attempts"] == MAX_AUTOMATIC_ATTEMPTS
    assert "ProviderUnavailable" in failed["last_error"]
    assert await _refunds(client, demo, state="refunded") == []
    # Staff can still send it by hand once the provider is back.
    provider.up = True
    retried = await client.post(
        f"/api/v1/refunds/{refund_id}/retry", headers=await staff_headers(client, demo)
    )
    assert retried.json()["state"] == "refunded"


async def test_an_unknown_state_filter_is_a_clear_422(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    response = await client.get(
        "/api/v1/refunds", params={"state": "lost"}, headers=await staff_headers(client, demo)
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_the_job_runs_every_minute() -> None:
    assert JOBS_BY_NAME["retry_refunds"].period(None) == 60.0  # type: ignore[arg-type]


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [refund_retries.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert refund_retries.backoff(40) == refund_retries.MAX_BACKOFF
