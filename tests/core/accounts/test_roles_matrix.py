"""Role layers (F21, F22): every role against every core route the workbench uses, and
every workbench page and action. The core decides; the workbench hides the same things.

The expected outcome of each route comes from ``workbench.roles.ACTIONS``, so this matrix
also proves that what the workbench hides is exactly what the core refuses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from core_service.exports import run_export
from core_service.platform.settings import Settings
from kippu_contract.roles import ROLES, role_at_least
from tests.conftest import seed_demo
from tests.support.vouchers import add_voucher
from tests.support.workbench import SECRET_EMAIL, SECRET_NAME, Builder, FacilityRef, core_api
from workbench.audit import AuditState
from workbench.billing import BillingState
from workbench.catalog import CatalogState
from workbench.core_client import CoreAPI, StaffIdentity
from workbench.data_access import ExportSource
from workbench.devices import DevicesState
from workbench.facility_settings import SettingsState
from workbench.mailing import MailingState
from workbench.operations import OperationsState
from workbench.payment_keys import PaymentKeysState
from workbench.roles import ACTIONS, PAGE_MIN_ROLE, PAGES, can, can_open, pages_for
from workbench.sales import SalesState
from workbench.staff_admin import StaffAdminState
from workbench.vouchers import VouchersState
from workbench.webhooks import WebhooksState

DAY = dt.date(2026, 11, 20)
COMPOSITION = {"subject_ja": "件名", "subject_en": "Subject", "body_ja": "本文", "body_en": "Body"}
NEW_PRODUCT = {"code": "matrix", "kind": "day_admission", "name_ja": "券", "name_en": "Ticket"}
DAY_PRODUCT = {**NEW_PRODUCT, "code": "day", "name_ja": "1日入園券", "name_en": "Day ticket"}
CHILD_PRICE = {"code": "child", "name_ja": "小人", "name_en": "Child", "price": 1000}

#: Every core route the workbench calls, with a valid request, by the action that uses it.
ROUTES: dict[str, tuple[str, str, dict[str, object]]] = {
    "sales.core_check": (
        "GET",
        "/api/v1/reports/sales",
        {"params": {"from": "2026-11-01", "to": "2026-11-30"}},
    ),
    "mailing.test": ("POST", "/api/v1/mailings/test", {"json": {"composition": COMPOSITION}}),
    "mailing.send": (
        "POST",
        "/api/v1/mailings",
        {"json": {"composition": COMPOSITION, "customer_keys": []}},
    ),
    "mailing.history": ("GET", "/api/v1/mailings", {}),
    "operations.devices": ("GET", "/api/v1/devices", {}),
    "operations.lookup": ("GET", "/api/v1/orders/lookup", {"params": {"q": "K000001"}}),
    # {code} is the park's order; the cancellation really happens where it is allowed.
    "operations.quote": ("GET", "/api/v1/orders/{code}/cancellation-quote", {}),
    "operations.cancel": (
        "POST",
        "/api/v1/orders/{code}/cancel",
        {"json": {}, "headers": {"Idempotency-Key": "matrix"}},
    ),
    "operations.refunds": ("GET", "/api/v1/refunds", {}),
    "catalog.products": ("GET", "/api/v1/catalog/products", {}),
    "catalog.create": ("POST", "/api/v1/catalog/products", {"json": NEW_PRODUCT}),
    "catalog.update": ("PUT", "/api/v1/catalog/products/{product}", {"json": DAY_PRODUCT}),
    "catalog.price_add": (
        "POST",
        "/api/v1/catalog/products/{product}/prices",
        {"json": {**CHILD_PRICE, "code": "matrix"}},
    ),
    "catalog.price_update": ("PUT", "/api/v1/catalog/prices/{price}", {"json": CHILD_PRICE}),
    "catalog.price_delete": ("DELETE", "/api/v1/catalog/prices/{price}", {}),
    "catalog.capacities": (
        "GET",
        "/api/v1/catalog/products/{product}/capacities",
        {"params": {"from": "2030-01-01", "to": "2030-01-07"}},
    ),
    "catalog.capacity_set": (
        "PUT",
        "/api/v1/catalog/products/{product}/capacities",
        {"json": {"date_from": "2030-01-01", "date_to": "2030-01-07", "capacity": 5}},
    ),
    "settings.view": ("GET", "/api/v1/facility/settings", {}),
    "settings.save": ("PUT", "/api/v1/facility/settings", {"json": {}}),
    "settings.payment_keys_view": ("GET", "/api/v1/facility/payment-credentials", {}),
    "settings.payment_keys": (
        "PUT",
        "/api/v1/facility/payment-credentials/{provider}",
        {"json": {"secret_key": "sk_test_matrixKEY0000"}},
    ),
    # {id} is the park's viewer (staff.*) or kiosk (devices.*): the change really happens.
    "staff.list": ("GET", "/api/v1/staff", {}),
    "staff.add": ("POST", "/api/v1/staff", {"json": {"email": "new@x.example", "role": "viewer"}}),
    "staff.change": ("PATCH", "/api/v1/staff/{id}", {"json": {"display_name": "V"}}),
    "staff.reset_password": ("POST", "/api/v1/staff/{id}/reset-password", {}),
    "devices.list": ("GET", "/api/v1/devices", {}),
    "devices.create": ("POST", "/api/v1/devices", {"json": {"kind": "gate", "name": "G2"}}),
    "devices.revoke": ("POST", "/api/v1/devices/{id}/revoke", {}),
    "devices.products": ("POST", "/api/v1/devices/{id}/products", {"json": {"product_ids": []}}),
    "audit.view": ("GET", "/api/v1/audit", {}),
    "webhooks.endpoints": ("GET", "/api/v1/webhooks/endpoints", {}),
    "webhooks.deliveries": ("GET", "/api/v1/webhooks/deliveries", {}),
    "billing.statements": ("GET", "/api/v1/billing/statements", {}),
    "vouchers.list": ("GET", "/api/v1/vouchers", {}),
    "vouchers.create": (
        "POST",
        "/api/v1/vouchers",
        {"json": {"code": "MATRIX-1", "kind": "fixed", "value": 100}},
    ),
    # {voucher_id} is the park's voucher; switching it off really happens where allowed.
    "vouchers.change": ("PATCH", "/api/v1/vouchers/{voucher_id}", {"json": {"active": False}}),
}


def test_every_action_with_a_route_is_in_the_matrix() -> None:
    assert {a for a, (_, route) in ACTIONS.items() if route} == set(ROUTES)
    assert all(f"{m} {p}" == ACTIONS[a][1] for a, (m, p, _) in ROUTES.items())


@dataclass
class Park:
    settings: Settings
    facility_id: int
    order_code: str
    #: The row each page's ``{id}`` routes act on, by page ("staff", "devices").
    ids: dict[str, int]
    #: The demo's day ticket and its (unsold) child price: the catalogue routes' rows.
    voucher_id: int = 0
    product_id: int = 0
    price_id: int = 0


@pytest.fixture
def park(db_settings: Settings) -> Iterator[Park]:
    """The demo park with one customer's paid order, exported; and a second facility."""
    demo = asyncio.run(seed_demo(db_settings))
    asyncio.run(seed_demo(db_settings, slug="other-park"))
    b = Builder(db_settings)
    facility = FacilityRef(demo.facility_id)
    customer = b.customer(facility)  # type: ignore[arg-type]
    (ticket,) = b.order(facility, b.product(facility), DAY, customer=customer)  # type: ignore[arg-type]
    b.pay(ticket, "card", 2000)
    b.close()
    run_export(db_settings)
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from core_service.models import Order

    async def code() -> str:
        engine = create_async_engine(db_settings.database_url)
        async with engine.connect() as conn:
            value = (
                await conn.execute(select(Order.code).where(Order.id == ticket.order_id))
            ).scalar_one()
        await engine.dispose()
        return value

    async def ids() -> dict[str, int]:
        from core_service.models import Device, StaffUser

        engine = create_async_engine(db_settings.database_url)
        async with engine.connect() as conn:
            viewer = (
                await conn.execute(
                    select(StaffUser.id).where(
                        StaffUser.facility_id == demo.facility_id, StaffUser.role == "viewer"
                    )
                )
            ).scalar_one()
            kiosk = (
                await conn.execute(
                    select(Device.id).where(
                        Device.facility_id == demo.facility_id, Device.kind == "kiosk"
                    )
                )
            ).scalar_one()
        await engine.dispose()
        return {"staff": viewer, "devices": kiosk}

    voucher_id = asyncio.run(add_voucher(db_settings, demo.facility_id, code="MATRIX-PARK"))
    yield Park(
        db_settings,
        demo.facility_id,
        asyncio.run(code()),
        asyncio.run(ids()),
        voucher_id,
        demo.day_ticket_id,
        demo.child_category_id,
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ROUTES))
def test_core_route_admits_exactly_the_roles_the_workbench_shows(
    park: Park, role: str, action: str
) -> None:
    method, template, route_kwargs = ROUTES[action]
    path = template.format(
        code=park.order_code,
        product=park.product_id,
        price=park.price_id,
        id=park.ids.get(action.split(".")[0]),
        voucher_id=park.voucher_id,
        provider="stripe",
    )
    kwargs = dict(route_kwargs)  # a copy: the table is shared by every parametrization
    extra: dict[str, str] = kwargs.pop("headers", {})  # type: ignore[assignment]
    with core_api(park.settings, role) as core:
        answer = core.http.request(method, path, headers={**core._headers, **extra}, **kwargs)  # type: ignore[arg-type]
        anonymous = core.http.request(method, path, headers=extra, **kwargs)  # type: ignore[arg-type]
    assert anonymous.status_code == 401
    if can(role, action):
        assert answer.status_code in (200, 201, 202, 204), answer.text
    else:
        assert answer.status_code == 403, answer.text


@pytest.mark.parametrize("role", ROLES)
def test_order_lookup_masks_personal_data_below_staff(park: Park, role: str) -> None:
    with core_api(park.settings, role) as core:
        by_code = core.lookup_orders(park.order_code)
        by_email = core.lookup_orders(SECRET_EMAIL)
    assert [o.code for o in by_code] == [park.order_code] == [o.code for o in by_email]
    order = by_code[0]
    if role_at_least(role, "staff"):
        assert order.customer_email == SECRET_EMAIL and order.customer_name == SECRET_NAME
    else:
        assert order.masked and SECRET_EMAIL not in str(order) and SECRET_NAME not in str(order)


def test_another_facility_never_sees_the_order(park: Park) -> None:
    with core_api(park.settings, "owner", slug="other-park") as core:
        assert core.lookup_orders(park.order_code) == []
        assert core.lookup_orders(SECRET_EMAIL) == []
        assert core.sales_report(DAY, DAY).rows == []


@pytest.mark.parametrize("role", ROLES)
def test_page_actions_succeed_exactly_where_the_role_allows(park: Park, role: str) -> None:
    """State level: each page's core-backed action works for allowed roles, fails quietly else."""
    assert park.settings.export_dir is not None
    source = ExportSource(park.settings.export_dir)
    with core_api(park.settings, role) as core:
        sales = SalesState(source, core, facility_id=park.facility_id, date_from=DAY, date_to=DAY)
        assert sales.total_amount == 2000  # aggregates from the exports: every role
        assert (sales.check_core() is True) == can(role, "sales.core_check")
        ops = OperationsState(core, query=park.order_code)
        assert ops.devices_allowed == can(role, "operations.devices")
        ops.lookup()
        assert len(ops.orders) == 1
        mailing = MailingState(source, core, facility_id=park.facility_id, **COMPOSITION)
        assert mailing.send_test() == can(role, "mailing.test")
        assert mailing.send() == can(role, "mailing.send")
        settings = SettingsState(core)
        assert settings.loaded == can(role, "settings.view")
        assert settings.save() == can(role, "settings.save")
        keys = PaymentKeysState(core)
        assert keys.loaded == can(role, "settings.payment_keys_view")
        keys.set_value("stripe", "secret_key", "sk_test_pageKEY0000")
        assert keys.save("stripe") == can(role, "settings.payment_keys")
        catalog = CatalogState(core, code="page-matrix", name_ja="券", name_en="Ticket")
        assert catalog.products  # every role reads the catalogue
        assert catalog.save() == can(role, "catalog.create")
        staff = StaffAdminState(core)
        assert bool(staff.members) == can(role, "staff.list")
        devices = DevicesState(core)
        assert bool(devices.devices) == can(role, "devices.list")
        audit = AuditState(core)
        assert (audit.entries is not None) == can(role, "audit.view")
        billing = BillingState(core)
        assert (billing.statements is not None) == can(role, "billing.statements")
        vouchers = VouchersState(core)
        assert (vouchers.vouchers is not None) == can(role, "vouchers.list")
        vouchers.code = f"PAGE-{role}"
        assert vouchers.create() == can(role, "vouchers.create")
        assert vouchers.set_active(park.voucher_id, False) == can(role, "vouchers.change")
        webhooks = WebhooksState(core)
        assert (webhooks.deliveries is not None) == can(role, "webhooks.deliveries")
        assert (webhooks.message == "") == can(role, "webhooks.endpoints")


@pytest.mark.parametrize("role", ROLES)
def test_pages_shown_match_the_role(role: str) -> None:
    expected = {
        "owner": PAGES,
        "manager": tuple(p for p in PAGES if p != "billing"),  # set-up pages included
        "staff": ("attendance", "sales", "operations"),
        "viewer": ("attendance", "sales", "operations"),
    }[role]
    assert tuple(pages_for(role)) == expected
    assert all(can_open(role, p) == role_at_least(role, PAGE_MIN_ROLE[p]) for p in PAGES)


@pytest.mark.parametrize("role", ROLES)
def test_navigation_and_buttons_render_only_what_the_role_may_use(park: Park, role: str) -> None:
    """View level: the header links and the sales page's core check follow the role."""
    import panel as pn
    from bokeh.document import Document

    from workbench.views_sales import SalesPage

    assert park.settings.export_dir is not None
    identity = StaffIdentity("t", role, "x@y", park.facility_id, "p", "パーク", "Park")
    core = CoreAPI.connect("http://127.0.0.1:9", "t")  # never called while rendering
    state = SalesState(ExportSource(park.settings.export_dir), core, facility_id=park.facility_id)
    root = pn.panel(SalesPage(state=state, identity=identity, lang="en")).get_root(Document())
    texts = " ".join(str(getattr(m, "text", "")) for m in root.references())
    labels = {getattr(m, "label", None) for m in root.references()}
    for page in (p for p in PAGES if p != "sales"):  # the current page is bold, not a link
        assert (f"nav-{page}" in texts) == can_open(role, page), page
    assert ("Check against the core" in labels) == can(role, "sales.core_check")
    assert {"CSV", "XLSX"} <= labels
