"""Offline gates: the bundle, uploads of offline scans (once per nonce), and the conflicts
the server finds when an offline admission collides with another. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.kiosks.devices import create_enrolled_device
from core_service.models import CheckIn, GateConflict, OfflineScan, Ticket
from core_service.platform.settings import Settings
from kippu_contract.states import TicketStatus
from kippu_contract.tokens import verify_token
from tests.conftest import seed_demo
from tests.support.aftersales import scan, staff_headers
from tests.support.web import query, run_in_session


async def _buy(client: AsyncTestClient[Any], demo: DemoFacility, kiosk_headers: dict) -> dict:
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-1", "amount": 2000},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()["tickets"][0]


def _scan(token: str, *, minutes_ago: int = 5, result: str = "admitted", **extra: str) -> dict:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    return {
        "nonce": uuid.uuid4().hex,
        "token": token,
        "scanned_at": at.isoformat(),
        "result": result,
        **extra,
    }


async def _upload(client: AsyncTestClient[Any], headers: dict, *scans: dict) -> Any:
    return await client.post(
        "/api/v1/gate/offline-scans", json={"scans": list(scans)}, headers=headers
    )


async def _second_gate(settings: Settings, demo: DemoFacility) -> dict[str, str]:
    async def work(session: Any) -> str:
        _, token = await create_enrolled_device(session, demo.facility_id, "gate", "East gate")
        await session.commit()
        return token

    return {"Authorization": f"Bearer {await run_in_session(settings, work)}"}


async def _cancel(settings: Settings, ticket_id: int) -> None:
    """Cancel a ticket in the database (the after-sales rules are tested elsewhere)."""

    async def work(session: Any) -> None:
        ticket = await session.get(Ticket, ticket_id)
        ticket.status = TicketStatus.CANCELLED
        await session.commit()

    await run_in_session(settings, work)


async def _count(settings: Settings, model: Any) -> int:
    return (await query(settings, sa.select(sa.func.count()).select_from(model)))[0][0]


async def test_bundle_holds_the_key_todays_tickets_and_the_revocations(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    kept = await _buy(client, demo, kiosk_headers)
    cancelled = await _buy(client, demo, kiosk_headers)

    await _cancel(db_settings, cancelled["id"])
    response = await client.get("/api/v1/gate/offline-bundle", headers=gate_headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["algorithm"] == "Ed25519"
    assert verify_token(kept["qr_token"], bundle["public_key"]).subject_id == kept["id"]
    listed = {t["id"]: t for t in bundle["tickets"]}
    assert listed[kept["id"]]["secret_version"] == 1 and listed[kept["id"]]["uses_left"] == 1
    assert cancelled["id"] not in listed
    assert {"ticket_id": cancelled["id"], "below_version": 2, "reason": "cancelled"} in bundle[
        "revoked"
    ]


async def test_bundle_is_for_gates_only(client: AsyncTestClient[Any], kiosk_headers: dict) -> None:
    response = await client.get("/api/v1/gate/offline-bundle", headers=kiosk_headers)
    assert response.status_code == 403
    assert set(response.json()) >= {"detail", "code"}


async def test_uploaded_admission_uses_the_ticket_with_the_gates_time(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    offline = _scan(ticket["qr_token"], minutes_ago=30)
    response = await _upload(client, gate_headers, offline)
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1 and response.json()["conflicts"] == 0
    assert (await scan(client, gate_headers, ticket["qr_token"]))["result"] == "already_used"
    rows = await query(
        db_settings,
        sa.select(CheckIn.result, CheckIn.scanned_at).where(CheckIn.reason == "offline"),
    )
    assert [r.result for r in rows] == ["admitted"]
    assert rows[0].scanned_at == dt.datetime.fromisoformat(offline["scanned_at"])


async def test_uploading_the_same_scans_again_counts_them_once(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    scans = [
        _scan(ticket["qr_token"], minutes_ago=20),
        _scan(ticket["qr_token"], minutes_ago=10, result="already_used"),
    ]
    first = (await _upload(client, gate_headers, *scans)).json()
    again = await _upload(client, gate_headers, *scans)
    assert (first["recorded"], first["duplicates"]) == (2, 0)
    assert again.status_code == 200
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 2)
    assert {s["status"] for s in again.json()["scans"]} == {"duplicate"}
    assert await _count(db_settings, OfflineScan) == 2
    assert await _count(db_settings, CheckIn) == 2
    assert await _count(db_settings, GateConflict) == 0


async def test_one_nonce_twice_in_one_upload_is_recorded_once(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    once = _scan(ticket["qr_token"])
    answer = (await _upload(client, gate_headers, once, once)).json()
    assert (answer["recorded"], answer["duplicates"]) == (1, 1)
    assert await _count(db_settings, CheckIn) == 1


async def test_offline_admission_of_a_ticket_used_online_is_a_listed_conflict(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    assert (await scan(client, gate_headers, ticket["qr_token"]))["admitted"]
    other_gate = await _second_gate(db_settings, demo)
    answer = (await _upload(client, other_gate, _scan(ticket["qr_token"], minutes_ago=1))).json()
    assert answer["conflicts"] == 1
    assert answer["scans"][0]["conflict"] == "double_admission"
    listed = await client.get("/api/v1/gate-conflicts", headers=await staff_headers(client, demo))
    assert listed.status_code == 200, listed.text
    [conflict] = listed.json()["conflicts"]
    assert conflict["kind"] == "double_admission"
    assert conflict["ticket_id"] == ticket["id"]
    assert conflict["device_name"] == "East gate"
    assert conflict["earlier_checkin_id"] is not None
    assert conflict["message_ja"] and conflict["message_en"]
    # Both passages are in the log: the online admission and the conflicting one.
    results = await query(db_settings, sa.select(CheckIn.result).order_by(CheckIn.id))
    assert [r.result for r in results] == ["admitted", "conflict"]


async def test_two_offline_gates_admitting_one_ticket_make_one_conflict(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    other_gate = await _second_gate(db_settings, demo)
    later = (await _upload(client, other_gate, _scan(ticket["qr_token"], minutes_ago=3))).json()
    earlier = (await _upload(client, gate_headers, _scan(ticket["qr_token"], minutes_ago=9))).json()
    assert (later["conflicts"], earlier["conflicts"]) == (0, 1)
    assert await _count(db_settings, GateConflict) == 1


async def test_offline_admission_of_a_cancelled_ticket_is_a_conflict(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)

    await _cancel(db_settings, ticket["id"])
    answer = (await _upload(client, gate_headers, _scan(ticket["qr_token"]))).json()
    assert answer["scans"][0]["conflict"] == "cancelled"


async def test_a_bad_scan_refuses_the_whole_upload_and_records_nothing(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    good = _scan(ticket["qr_token"])
    for bad in (
        _scan(ticket["qr_token"], direction="sideways"),
        _scan(ticket["qr_token"], result="maybe"),
        _scan(ticket["qr_token"], minutes_ago=-60),
        {**_scan(ticket["qr_token"]), "scanned_at": "2026-12-08T10:00:00"},
        {**_scan(ticket["qr_token"]), "nonce": "x"},
    ):
        response = await _upload(client, gate_headers, good, bad)
        assert response.status_code in (400, 422), response.text
        assert set(response.json()) >= {"detail", "code"}
    assert await _count(db_settings, OfflineScan) == 0
    assert await _count(db_settings, CheckIn) == 0


async def test_conflicts_are_for_staff_only(
    client: AsyncTestClient[Any], gate_headers: dict
) -> None:
    for headers in (gate_headers, {}):
        response = await client.get("/api/v1/gate-conflicts", headers=headers)
        assert response.status_code in (401, 403)
        assert set(response.json()) >= {"detail", "code"}


async def test_another_facility_does_not_see_the_conflicts(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
    db_settings: Settings,
) -> None:
    ticket = await _buy(client, demo, kiosk_headers)
    await scan(client, gate_headers, ticket["qr_token"])
    await _upload(client, gate_headers, _scan(ticket["qr_token"]))
    other = await seed_demo(db_settings, slug="other-park")
    theirs = await client.get("/api/v1/gate-conflicts", headers=await staff_headers(client, other))
    ours = await client.get("/api/v1/gate-conflicts", headers=await staff_headers(client, demo))
    assert theirs.json()["conflicts"] == []
    assert len(ours.json()["conflicts"]) == 1


async def test_a_gate_cannot_upload_another_facilitys_ticket_as_its_own(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict,
    db_settings: Settings,
) -> None:
    """A code of facility A uploaded by a gate of B is logged at B as invalid and does
    not use A's ticket."""
    ticket = await _buy(client, demo, kiosk_headers)
    other = await seed_demo(db_settings, slug="other-park")
    other_gate = {"Authorization": f"Bearer {other.gate_token}"}
    answer = (await _upload(client, other_gate, _scan(ticket["qr_token"]))).json()
    assert answer["scans"][0]["conflict"] == "invalid"
    gate_headers = {"Authorization": f"Bearer {demo.gate_token}"}
    assert (await scan(client, gate_headers, ticket["qr_token"]))["admitted"]
