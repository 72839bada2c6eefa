"""What each staff role may open and do in the workbench (F21, F22).

The core decides: every action goes through a core route whose guard refuses a role that
may not act. This table only *hides* what would be refused, so nobody clicks a button that
can only fail; it mirrors the guards and ``tests/core/accounts/test_roles_matrix.py`` checks that it does.
"""

from __future__ import annotations

from kippu_contract.roles import ROLES, role_at_least

PAGES = (
    "attendance",
    "sales",
    "mailing",
    "operations",
    "catalog",
    "settings",
    "vouchers",
    "staff",
    "devices",
    "audit",
    "webhooks",
    "billing",
)

#: Lowest role that sees each page. Viewers see aggregates (attendance, sales) and the
#: order lookup with personal data masked by the core; staff add kiosk health.
PAGE_MIN_ROLE: dict[str, str] = {
    "attendance": "viewer",
    "sales": "viewer",
    "operations": "viewer",
    "mailing": "manager",
    # The core lets every role read the catalogue; setting it up is the managers' page.
    "catalog": "manager",
    "settings": "manager",
    # Set-up: staff accounts, devices and the audit log of set-up changes.
    "staff": "manager",
    "devices": "manager",
    "audit": "manager",
    "vouchers": "manager",
    "webhooks": "manager",
    # What the facility pays the platform: the owner's business.
    "billing": "owner",
}

#: Lowest role per page action, and the core route it calls (None: exports only).
ACTIONS: dict[str, tuple[str, str | None]] = {
    "attendance.view": ("viewer", None),
    "sales.view": ("viewer", None),
    "sales.download": ("viewer", None),
    "sales.core_check": ("manager", "GET /api/v1/reports/sales"),
    "mailing.segment": ("manager", None),
    "mailing.test": ("manager", "POST /api/v1/mailings/test"),
    "mailing.send": ("manager", "POST /api/v1/mailings"),
    "mailing.history": ("manager", "GET /api/v1/mailings"),
    "operations.devices": ("staff", "GET /api/v1/devices"),
    "operations.lookup": ("viewer", "GET /api/v1/orders/lookup"),
    "operations.quote": ("staff", "GET /api/v1/orders/{code}/cancellation-quote"),
    "operations.cancel": ("staff", "POST /api/v1/orders/{code}/cancel"),
    "operations.refunds": ("staff", "GET /api/v1/refunds"),
    "catalog.products": ("viewer", "GET /api/v1/catalog/products"),
    "catalog.create": ("manager", "POST /api/v1/catalog/products"),
    "catalog.update": ("manager", "PUT /api/v1/catalog/products/{product}"),
    "catalog.price_add": ("manager", "POST /api/v1/catalog/products/{product}/prices"),
    "catalog.price_update": ("manager", "PUT /api/v1/catalog/prices/{price}"),
    "catalog.price_delete": ("manager", "DELETE /api/v1/catalog/prices/{price}"),
    "catalog.capacities": ("viewer", "GET /api/v1/catalog/products/{product}/capacities"),
    "catalog.capacity_set": ("manager", "PUT /api/v1/catalog/products/{product}/capacities"),
    "settings.view": ("manager", "GET /api/v1/facility/settings"),
    "settings.save": ("manager", "PUT /api/v1/facility/settings"),
    # Managers see the keys masked; storing them is the owner's decision (it redirects the money).
    "settings.payment_keys_view": ("manager", "GET /api/v1/facility/payment-credentials"),
    "settings.payment_keys": ("owner", "PUT /api/v1/facility/payment-credentials/{provider}"),
    "staff.list": ("manager", "GET /api/v1/staff"),
    "staff.add": ("manager", "POST /api/v1/staff"),
    "staff.change": ("manager", "PATCH /api/v1/staff/{id}"),
    "staff.reset_password": ("manager", "POST /api/v1/staff/{id}/reset-password"),
    "devices.list": ("staff", "GET /api/v1/devices"),
    "devices.create": ("manager", "POST /api/v1/devices"),
    "devices.revoke": ("manager", "POST /api/v1/devices/{id}/revoke"),
    "devices.products": ("manager", "POST /api/v1/devices/{id}/products"),
    "audit.view": ("manager", "GET /api/v1/audit"),
    "vouchers.list": ("manager", "GET /api/v1/vouchers"),
    "vouchers.create": ("manager", "POST /api/v1/vouchers"),
    "vouchers.change": ("manager", "PATCH /api/v1/vouchers/{voucher_id}"),
    "webhooks.endpoints": ("manager", "GET /api/v1/webhooks/endpoints"),
    "webhooks.deliveries": ("manager", "GET /api/v1/webhooks/deliveries"),
    "billing.statements": ("owner", "GET /api/v1/billing/statements"),
}


def can_open(role: str, page: str) -> bool:
    return page in PAGE_MIN_ROLE and role_at_least(role, PAGE_MIN_ROLE[page])


def can(role: str, action: str) -> bool:
    return action in ACTIONS and role_at_least(role, ACTIONS[action][0])


def pages_for(role: str) -> list[str]:
    return [p for p in PAGES if can_open(role, p)]


__all__ = ["ACTIONS", "PAGES", "PAGE_MIN_ROLE", "ROLES", "can", "can_open", "pages_for"]
