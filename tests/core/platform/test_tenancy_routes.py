"""Tenancy and role proof over the app's whole route table (issue 16).

Every staff, kiosk and gate route of ``create_app`` is called (a) by the *other*
facility's staff or devices against this facility's rows, and (b) by every role or device
below what the route needs. Refusals must be 401/403/404 (or the gate's own
``wrong_facility`` verdict), and no answer may carry this facility's data. The routes are
read from ``app.routes``: a route missing from :data:`CALLS` (or from :data:`PUBLIC`, the
visitor routes open to anyone) fails the test, so a new route cannot be forgotten.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kippu_contract.roles import ROLES, role_at_least
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.gate_rules import PNG, give_holder
from tests.support.platform import NEW_FACILITY, make_operator, operator_headers

OTHER = "other-park"
COMPOSITION = {"subject_ja": "件名", "subject_en": "Subject", "body_ja": "本文", "body_en": "Body"}
PHOTO = PNG + b"ours-only-photo"
#: Ids and codes that exist nowhere, for the calls that only prove a role is admitted.
MISSING = 2_000_000_000


@dataclass
class Park:
    """What one facility owns that another must never reach."""

    demo: DemoFacility
    kiosk_id: int = MISSING
    order_code: str = "K-NONE"
    ticket_token: str = "none"
    ticket_id: int = MISSING
    refund_id: int = MISSING
    mailing_id: int = MISSING
    endpoint_id: int = MISSING
    product_id: int = MISSING
    price_id: int = MISSING
    staff_id: int = MISSING
    voucher_id: int = MISSING
    #: Strings found only in this facility's rows; another facility's answers never hold one.
    markers: list[str] = field(default_factory=list)


#: How a route is called: (method, path, request keyword arguments) for the target park.
Build = Callable[[Park], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """Who may call a route (a role of the ladder, ``kiosk`` / ``gate``, or ``operator``:
    the deployment's platform operators, whose routes belong to no facility) and how."""

    needs: str
    build: Build = lambda park: {}  # noqa: E731
    #: A call for another facility's rows is refused, rather than answering the caller's own.
    targets_rows: bool = False


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _sale(park: Park, **headers: str) -> dict[str, Any]:
    return {
        "headers": {**_key(), **headers},
        "json": {
            "lines": [{"price_category_id": park.demo.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-1", "amount": 2000},
        },
    }


PRODUCT = {"code": "route-table", "kind": "day_admission", "name_ja": "券", "name_en": "Ticket"}
PRICE = {"code": "route-table", "name_ja": "大人", "name_en": "Adult", "price": 100}
CAPACITY = {"date_from": "2030-01-01", "date_to": "2030-01-01", "capacity": 1}


def _stay_payment(park: Park) -> dict[str, Any]:
    payment = {"method": "qr", "reference": "t-2", "amount": 500}
    return {"json": {"token": park.ticket_token, "period_total": 500, "payment": payment}}


#: Every guarded route, by "METHOD path" as the route table spells it.
CALLS: dict[str, Call] = {
    "POST /api/v1/auth/logout": Call("viewer"),
    "GET /api/v1/auth/me": Call("viewer"),
    "POST /api/v1/kiosk/call-staff": Call("kiosk", lambda p: {"json": {"reason": "visitor"}}),
    "GET /api/v1/kiosk/catalog": Call("kiosk"),
    "POST /api/v1/kiosk/orders": Call("kiosk", _sale, targets_rows=True),
    "POST /api/v1/kiosk/heartbeat": Call("kiosk", lambda p: {"json": {}}),
    "GET /api/v1/kiosk/stays/charge": Call(
        "kiosk", lambda p: {"params": {"token": p.ticket_token}}, targets_rows=True
    ),
    "POST /api/v1/kiosk/stays/orders": Call("kiosk", _stay_payment, targets_rows=True),
    "POST /api/v1/kiosk/voucher-quote": Call(
        "kiosk",
        lambda p: {
            "json": {
                "lines": [{"price_category_id": p.demo.adult_category_id, "quantity": 1}],
                "voucher_code": "OURS-ONLY",
            }
        },
        targets_rows=True,
    ),
    "POST /api/v1/devices/{device_id:int}/close-call": Call(
        "staff", lambda p: {"path": {"device_id": p.kiosk_id}}, targets_rows=True
    ),
    "POST /api/v1/devices": Call("manager", lambda p: {"json": {"kind": "gate", "name": "G"}}),
    "GET /api/v1/devices": Call("staff"),
    "POST /api/v1/devices/{device_id:int}/revoke": Call(
        "manager", lambda p: {"path": {"device_id": p.kiosk_id}}, targets_rows=True
    ),
    "POST /api/v1/devices/{device_id:int}/products": Call(
        "manager",
        lambda p: {"path": {"device_id": p.kiosk_id}, "json": {"product_ids": []}},
        targets_rows=True,
    ),
    "POST /api/v1/gate/scan": Call(
        "gate", lambda p: {"json": {"token": p.ticket_token, "direction": "entry"}}
    ),
    "GET /api/v1/gate/holders/{ticket_id:int}/photo": Call(
        "gate", lambda p: {"path": {"ticket_id": p.ticket_id}}, targets_rows=True
    ),
    "GET /api/v1/gate/offline-bundle": Call("gate"),
    "POST /api/v1/platform/logout": Call("operator"),
    "GET /api/v1/platform/facilities": Call("operator"),
    "POST /api/v1/platform/facilities": Call(
        "operator", lambda p: {"json": {**NEW_FACILITY, "slug": "x"}}
    ),
    "GET /api/v1/staff": Call("manager"),
    "POST /api/v1/staff": Call("manager", lambda p: {"json": {"email": "bad", "role": "viewer"}}),
    "PATCH /api/v1/staff/{staff_id:int}": Call(
        "manager", lambda p: {"path": {"staff_id": p.staff_id}, "json": {}}, targets_rows=True
    ),
    "POST /api/v1/staff/{staff_id:int}/reset-password": Call(
        "manager", lambda p: {"path": {"staff_id": p.staff_id}}, targets_rows=True
    ),
    "GET /api/v1/audit": Call("manager"),
    "POST /api/v1/gate/offline-scans": Call("gate", lambda p: {"json": {"scans": []}}),
    "GET /api/v1/gate-conflicts": Call("staff"),
    "GET /api/v1/billing/statements": Call("owner"),
    "GET /api/v1/billing/statements/{month:str}/csv": Call(
        "owner", lambda p: {"path": {"month": "2026-11"}}
    ),
    "GET /api/v1/billing/statements/{month:str}/pdf": Call(
        "owner", lambda p: {"path": {"month": "2026-11"}}
    ),
    "GET /api/v1/reports/sales": Call(
        "manager", lambda p: {"params": {"from": "2020-01-01", "to": "2040-12-31"}}
    ),
    "GET /api/v1/mailings": Call("manager"),
    "POST /api/v1/mailings": Call(
        "manager", lambda p: {"json": {"composition": COMPOSITION, "customer_keys": []}}
    ),
    "GET /api/v1/mailings/{mailing_id:int}": Call(
        "manager", lambda p: {"path": {"mailing_id": p.mailing_id}}, targets_rows=True
    ),
    "POST /api/v1/mailings/test": Call("manager", lambda p: {"json": {"composition": COMPOSITION}}),
    "GET /api/v1/orders/lookup": Call("viewer", lambda p: {"params": {"q": p.order_code}}),
    "POST /api/v1/orders/{code:str}/cancel": Call(
        "staff", lambda p: {"path": {"code": p.order_code}, "json": {}, "headers": _key()}, True
    ),
    "POST /api/v1/refunds/{refund_id:int}/paid-out": Call(
        "staff", lambda p: {"path": {"refund_id": p.refund_id}}, targets_rows=True
    ),
    "GET /api/v1/orders/{code:str}/cancellation-quote": Call(
        "staff", lambda p: {"path": {"code": p.order_code}}, targets_rows=True
    ),
    "GET /api/v1/refunds": Call("staff"),
    "POST /api/v1/refunds/{refund_id:int}/retry": Call(
        "staff", lambda p: {"path": {"refund_id": p.refund_id}}, targets_rows=True
    ),
    "GET /api/v1/passes/export.zip": Call("manager"),
    "GET /api/v1/facility/settings": Call("manager"),
    "PUT /api/v1/facility/settings": Call("manager", lambda p: {"json": {}}),
    "GET /api/v1/facility/payment-credentials": Call("manager"),
    "PUT /api/v1/facility/payment-credentials/{provider:str}": Call(
        "owner", lambda p: {"path": {"provider": "stripe"}, "json": {}}
    ),
    "PATCH /api/v1/webhooks/endpoints/{endpoint_id:int}": Call(
        "manager",
        lambda p: {"path": {"endpoint_id": p.endpoint_id}, "json": {"active": False}},
        targets_rows=True,
    ),
    "DELETE /api/v1/webhooks/endpoints/{endpoint_id:int}": Call(
        "manager", lambda p: {"path": {"endpoint_id": p.endpoint_id}}, targets_rows=True
    ),
    "GET /api/v1/webhooks/endpoints": Call("manager"),
    "POST /api/v1/webhooks/endpoints": Call(
        "manager", lambda p: {"json": {"url": "https://b.example/hook", "events": ["order.paid"]}}
    ),
    "GET /api/v1/webhooks/deliveries": Call("manager"),
    "GET /api/v1/catalog/products": Call("viewer"),
    "POST /api/v1/catalog/products": Call("manager", lambda p: {"json": PRODUCT}),
    "GET /api/v1/catalog/products/{product_id:int}": Call(
        "viewer", lambda p: {"path": {"product_id": p.product_id}}, targets_rows=True
    ),
    "PUT /api/v1/catalog/products/{product_id:int}": Call(
        "manager",
        lambda p: {"path": {"product_id": p.product_id}, "json": {**PRODUCT, "code": "day"}},
        targets_rows=True,
    ),
    "POST /api/v1/catalog/products/{product_id:int}/prices": Call(
        "manager",
        lambda p: {"path": {"product_id": p.product_id}, "json": PRICE},
        targets_rows=True,
    ),
    "PUT /api/v1/catalog/prices/{price_id:int}": Call(
        "manager", lambda p: {"path": {"price_id": p.price_id}, "json": PRICE}, targets_rows=True
    ),
    "DELETE /api/v1/catalog/prices/{price_id:int}": Call(
        "manager", lambda p: {"path": {"price_id": p.price_id}}, targets_rows=True
    ),
    "GET /api/v1/catalog/products/{product_id:int}/capacities": Call(
        "viewer",
        lambda p: {
            "path": {"product_id": p.product_id},
            "params": {"from": "2030-01-01", "to": "2030-01-02"},
        },
        targets_rows=True,
    ),
    "PUT /api/v1/catalog/products/{product_id:int}/capacities": Call(
        "manager",
        lambda p: {"path": {"product_id": p.product_id}, "json": CAPACITY},
        targets_rows=True,
    ),
    "GET /api/v1/vouchers": Call("manager"),
    "POST /api/v1/vouchers": Call(
        "manager", lambda p: {"json": {"code": "THEIRS-1", "kind": "fixed", "value": 100}}
    ),
    "PATCH /api/v1/vouchers/{voucher_id:int}": Call(
        "manager",
        lambda p: {"path": {"voucher_id": p.voucher_id}, "json": {"active": False}},
        targets_rows=True,
    ),
    "POST /api/v1/webhooks/endpoints/{endpoint_id:int}/rotate-secret": Call(
        "manager", lambda p: {"path": {"endpoint_id": p.endpoint_id}}, targets_rows=True
    ),
}

#: Routes anyone may call: the visitor's pages and forms (they name the facility in the
#: path and prove access with a signed key or code), login and enrolment, the payment
#: companies' webhooks (signed by them), the public key and availability, the schema,
#: the gate scanner's page and files, the platform operator's page (its forms need the
#: operator's cookie: tests/core/accounts/test_platform_pages.py).
PUBLIC_PREFIXES = (
    "/shop/",
    "/demo-pay/",
    "/unsubscribe/",
    "/schema",
    "/api/v1/payments/",
    "/gate/static/",
    "/platform/",
)
PUBLIC = {
    "POST /api/v1/auth/login",
    "POST /api/v1/platform/login",
    "POST /api/v1/kiosk/enrol",
    "GET /api/v1/facilities/{slug:str}/public-key",
    "GET /api/v1/facilities/{slug:str}/availability",
    "GET /healthz",
    "GET /platform",  # the operator's page: its login form, or its own cookie's view
    "GET /gate",  # the scanner page; it calls the gate API with the device's token
}


def _route_table() -> set[str]:
    # Building the app opens no database (the engine is made in the lifespan).
    app = create_app(Settings(database_url="sqlite:///unused.sqlite3"), background=False)
    return {
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods
        if method != "OPTIONS"
    }


ROUTES = _route_table()


def _is_public(route: str) -> bool:
    return route in PUBLIC or route.split(" ", 1)[1].startswith(PUBLIC_PREFIXES)


def test_every_route_is_either_public_or_called_below() -> None:
    unknown = sorted(r for r in ROUTES if not _is_public(r) and r not in CALLS)
    assert not unknown, (
        f"routes this test does not know how to call: {unknown}; add each to CALLS in "
        "tests/core/platform/test_tenancy_routes.py (who may call it, and how), or to "
        "PUBLIC if visitors may call it without credentials"
    )
    assert not sorted(set(CALLS) - ROUTES), "CALLS names routes the app no longer has"


@dataclass
class World:
    client: AsyncTestClient[Litestar]
    ours: Park
    theirs: Park
    #: Bearer headers by facility slug, then by role or device kind.
    headers: dict[str, dict[str, dict[str, str]]]

    async def call(self, route: str, caller: dict[str, str], target: Park) -> Any:
        method, template = route.split(" ", 1)
        kwargs = CALLS[route].build(target)
        path = template
        for name, value in kwargs.pop("path", {}).items():
            for kind in ("int", "str"):
                path = path.replace(f"{{{name}:{kind}}}", str(value))
        kwargs["headers"] = {**kwargs.get("headers", {}), **caller}
        return await self.client.request(method, path, **kwargs)


async def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _stock(client: AsyncTestClient[Litestar], park: Park, staff: dict[str, str]) -> None:
    """An order, a refunded order, a mailing and a webhook endpoint in ``park``."""
    kiosk = {"Authorization": f"Bearer {park.demo.kiosk_token}"}
    sold = await _ok(await client.post("/api/v1/kiosk/orders", **_sale(park, **kiosk)))
    park.order_code = sold["order"]["code"]
    park.ticket_token = sold["tickets"][0]["qr_token"]
    park.ticket_id = sold["tickets"][0]["id"]
    again = await _ok(await client.post("/api/v1/kiosk/orders", **_sale(park, **kiosk)))
    cancelled = await _ok(
        await client.post(
            f"/api/v1/orders/{again['order']['code']}/cancel",
            json={},
            headers={**staff, **_key()},
        )
    )
    park.refund_id = cancelled["refund"]["id"]
    devices = await _ok(await client.get("/api/v1/devices", headers=staff))
    park.kiosk_id = next(d["id"] for d in devices if d["kind"] == "kiosk")
    mailing = await _ok(
        await client.post(
            "/api/v1/mailings",
            json={"composition": {**COMPOSITION, "subject_en": "Ours only"}, "customer_keys": []},
            headers=staff,
        )
    )
    park.mailing_id = mailing["id"]
    endpoint = await _ok(
        await client.post(
            "/api/v1/webhooks/endpoints",
            json={"url": "https://ours-only.example/hook", "events": ["order.paid"]},
            headers=staff,
        )
    )
    park.endpoint_id = endpoint["endpoint"]["id"]
    park.product_id = park.demo.day_ticket_id
    park.price_id = park.demo.child_category_id  # never sold: a delete would succeed
    members = await _ok(await client.get("/api/v1/staff", headers=staff))
    park.staff_id = next(m["id"] for m in members if m["role"] == "viewer")
    voucher = await _ok(
        await client.post(
            "/api/v1/vouchers",
            json={"code": "OURS-ONLY", "kind": "percent", "value": 5},
            headers=staff,
        )
    )
    park.voucher_id = voucher["id"]
    park.markers = [
        park.demo.slug,
        park.order_code,
        "ours-only.example",
        "Ours only",
        "OURS-ONLY",
    ]


@pytest.fixture
async def world(db_settings: Settings) -> AsyncIterator[World]:
    ours = Park(await seed_demo(db_settings))
    theirs = Park(await seed_demo(db_settings, slug=OTHER, name_ja="別の公園", name_en="Other"))
    async with AsyncTestClient(app=create_app(db_settings, background=False)) as client:
        headers: dict[str, dict[str, dict[str, str]]] = {}
        for park in (ours, theirs):
            by = {role: await staff_headers(client, park.demo, role) for role in ROLES}
            by["kiosk"] = {"Authorization": f"Bearer {park.demo.kiosk_token}"}
            by["gate"] = {"Authorization": f"Bearer {park.demo.gate_token}"}
            headers[park.demo.slug] = by
        await make_operator(db_settings)
        # Deployment-level: the same operator for both, of neither facility.
        operator = await operator_headers(client)
        for by in headers.values():
            by["operator"] = operator
        await _stock(client, ours, headers[ours.demo.slug]["manager"])
        # A holder with a photo on our ticket: their gate must not get it.
        await give_holder(db_settings, ours.ticket_id, "Ours Only Holder", PHOTO)
        ours.markers.append("ours-only-photo")
        yield World(client, ours, theirs, headers)


def _body_text(response: Any) -> str:
    if response.headers.get("content-type", "").startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return " ".join(
                name + archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    return str(response.text)


def _ordered(routes: list[str]) -> list[str]:
    # Logout ends the caller's tokens: it goes last so the other calls keep theirs.
    return sorted(routes, key=lambda route: route.endswith("/logout"))


async def test_another_facility_never_reaches_this_facilitys_rows(world: World) -> None:
    """(a) The other facility's staff (owner) and devices, aimed at our rows."""
    problems = []
    theirs = world.headers[OTHER]
    for route in _ordered(sorted(CALLS)):
        call = CALLS[route]
        if call.needs == "operator":
            continue  # of no facility: operators see every facility by design
        caller = theirs["owner"] if call.needs in ROLES else theirs[call.needs]
        response = await world.call(route, caller, world.ours)
        status, text = response.status_code, _body_text(response)
        leaked = [marker for marker in world.ours.markers if marker in text]
        if leaked:
            problems.append(f"{route}: {status} shows {leaked}")
        elif call.targets_rows and status not in (403, 404, 422):
            problems.append(f"{route}: {status} for another facility's row: {text[:200]}")
        elif route == "POST /api/v1/gate/scan" and response.json()["admitted"]:
            problems.append(f"{route}: their gate admitted our ticket")
    assert not problems, "\n".join(problems)
    # Nothing the refused calls aimed at changed: our kiosk still sells, our endpoint is on.
    ours = world.headers[world.ours.demo.slug]
    sale = await world.client.post("/api/v1/kiosk/orders", **_sale(world.ours, **ours["kiosk"]))
    assert sale.status_code == 201, sale.text
    endpoints = (
        await world.client.get("/api/v1/webhooks/endpoints", headers=ours["manager"])
    ).json()
    assert [e["active"] for e in endpoints if e["id"] == world.ours.endpoint_id] == [True]
    day = await world.client.get(
        f"/api/v1/catalog/products/{world.ours.product_id}", headers=ours["manager"]
    )
    assert day.json()["name_en"] == "Day ticket"
    assert world.ours.price_id in [c["id"] for c in day.json()["price_categories"]]
    vouchers = (await world.client.get("/api/v1/vouchers", headers=ours["manager"])).json()
    assert [v["active"] for v in vouchers if v["id"] == world.ours.voucher_id] == [True]


def _below(needs: str) -> list[str]:
    """The callers that must be refused: lower roles, devices, the wrong device, nobody."""
    if needs in ROLES:
        lower = [role for role in ROLES if not role_at_least(role, needs)]
        return [*lower, "kiosk", "gate", "operator", "anonymous"]
    if needs == "operator":
        return [*ROLES, "kiosk", "gate", "anonymous"]
    return [*ROLES, "gate" if needs == "kiosk" else "kiosk", "operator", "anonymous"]


async def test_every_route_refuses_every_caller_below_what_it_needs(world: World) -> None:
    """(b) Lower roles, devices on staff routes, staff and the wrong kind on device routes;
    and the least caller that may is admitted (so the table says what the guards do)."""
    problems = []
    ours = world.headers[world.ours.demo.slug]
    nowhere = Park(world.ours.demo)  # rows that do not exist: admitted calls change nothing
    for route in _ordered(sorted(CALLS)):
        needs = CALLS[route].needs
        for who in _below(needs):
            response = await world.call(route, ours.get(who, {}), world.ours)
            if response.status_code not in (401, 403):
                problems.append(f"{route} as {who}: {response.status_code} {response.text[:120]}")
        admitted = await world.call(route, ours[needs], nowhere)
        if admitted.status_code in (401, 403):
            problems.append(f"{route} as {needs}: refused ({admitted.status_code}); fix CALLS")
    assert not problems, "\n".join(problems)
