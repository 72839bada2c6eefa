"""Cancellation fee tiers through the settings API (issue 17.5): stored as the
cancellation policy reads them, checked before anything is stored, audited."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.aftersales.cancellation_policy import CancellationPolicy
from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, Facility
from core_service.platform.settings import Settings
from tests.support.aftersales import staff_headers
from tests.support.web import query

SETTINGS = "/api/v1/facility/settings"
TIERS = [
    {"days_before": 0, "fixed": 500},
    {"days_before": 7, "percent": 0},
    {"days_before": 2, "percent": 20},
]


async def _policy(settings: Settings, facility_id: int) -> CancellationPolicy:
    (row,) = await query(settings, sa.select(Facility.settings).where(Facility.id == facility_id))
    return CancellationPolicy.from_settings(row[0])


async def test_tiers_are_stored_largest_first_and_the_policy_charges_them(
    client: AsyncTestClient, demo: DemoFacility, db_settings: Settings
) -> None:
    manager = await staff_headers(client, demo, "manager")
    change = {"cancellation_fees": TIERS, "self_cancel": True, "self_cancel_until_days": 3}
    saved = await client.put(SETTINGS, json=change, headers=manager)
    assert saved.status_code == 200, saved.text
    assert [t["days_before"] for t in saved.json()["cancellation_fees"]] == [7, 2, 0]
    assert saved.json()["self_cancel_until_days"] == 3
    policy = await _policy(db_settings, demo.facility_id)
    assert [policy.fee(2000, d) for d in (10, 7, 5, 2, 1, 0)] == [0, 0, 400, 400, 500, 500]
    assert policy.visitor_may_cancel(3) and not policy.visitor_may_cancel(2)
    (data,) = await query(
        db_settings, sa.select(AuditLog.data).where(AuditLog.action == "facility.settings")
    )
    assert data[0]["cancellation_fees"][0] == {"days_before": 0, "percent": 0, "fixed": 500}
    # An empty list removes every tier: no fee until the visit date.
    cleared = await client.put(SETTINGS, json={"cancellation_fees": []}, headers=manager)
    assert cleared.json()["cancellation_fees"] == [] and cleared.json()["self_cancel"] is True


@pytest.mark.parametrize(
    ("tiers", "index"),
    [
        ([{"days_before": 3, "percent": 150}], 0),
        ([{"days_before": 1, "percent": 10}, {"days_before": -1, "fixed": 100}], 1),
        ([{"days_before": 2, "fixed": -5}], 0),
        ([{"days_before": 2, "percent": 10}, {"days_before": 2, "percent": 50}], 1),
    ],
)
async def test_a_bad_tier_is_refused_by_its_place_and_nothing_is_stored(
    client: AsyncTestClient,
    demo: DemoFacility,
    db_settings: Settings,
    tiers: list[dict[str, Any]],
    index: int,
) -> None:
    manager = await staff_headers(client, demo, "manager")
    before = await _policy(db_settings, demo.facility_id)
    refused = await client.put(
        SETTINGS,
        json={"cancellation_fees": tiers, "self_cancel": True},
        headers={**manager, "Accept-Language": "ja"},
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["field"] == "cancellation_fees" and body["index"] == index
    assert f"{index + 1}段目" in body["detail"]
    assert await _policy(db_settings, demo.facility_id) == before


async def test_a_tier_with_an_unknown_key_is_refused(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    refused = await client.put(
        SETTINGS, json={"cancellation_fees": [{"days_before": 1, "percentage": 5}]}, headers=manager
    )
    assert refused.status_code == 400, refused.text
