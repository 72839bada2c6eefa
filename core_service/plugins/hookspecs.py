"""Every hook a kippu plugin can implement, grouped by phase.

Each specification is an empty, annotated function; its docstring says when it fires,
what the arguments are and what the return value means. Core code never calls these
directly: it goes through :class:`core_service.plugins.host.FacilityPlugins`, which calls
only the plugins the facility has enabled. ``docs/plugins.md`` documents each hook and a
meta-test checks that every hook here is documented and tested.
"""

from __future__ import annotations

from typing import Any

from core_service.plugins.values import (
    AvailabilityMarker,
    CheckoutField,
    FacilityContext,
    FieldError,
    OptionField,
    PaidOrder,
    Redemption,
    hookspec,
)

# --- sale -------------------------------------------------------------------------------


@hookspec
def checkout_fields(facility: FacilityContext, channel: str) -> list[CheckoutField]:
    """Extra fields for the checkout of ``channel`` ("web" or "kiosk").

    Called when the web checkout form or the kiosk catalog is built, and again when an
    order is submitted. Return a list of fields (may be empty); the lists of all enabled
    plugins are concatenated in plugin order.
    """


@hookspec
def validate_checkout(
    facility: FacilityContext, channel: str, answers: dict[str, Any]
) -> list[FieldError]:
    """Check the visitor's answers before an order is created.

    ``answers`` maps field names to the submitted values (bool for checkboxes). Return the
    problems found (empty list if none); any problem stops the order and is shown beside
    its field. Called before capacity is reserved, so a refusal costs nothing.
    """


@hookspec(firstresult=True)
def availability_marker(
    facility: FacilityContext, remaining: int | None, capacity: int | None
) -> AvailabilityMarker | None:
    """The marker (〇/△/×) for a date or slot with ``remaining`` of ``capacity`` places.

    ``None`` for both means unlimited. Called for every date and slot the checkout, the
    kiosk and the availability feed show. Stops at the first non-None result; return
    None to let another plugin decide.
    """


@hookspec
def order_paid(facility: FacilityContext, order: PaidOrder) -> None:
    """An order has just become paid (exactly once per order), after the commit.

    Use it to notify outside systems. Exceptions are logged and do not undo the sale.
    """


# --- payment ----------------------------------------------------------------------------


@hookspec
def register_payment_providers() -> list[type[Any]]:
    """Payment provider classes this plugin offers.

    Called once per request that needs providers. Each class subclasses
    :class:`core_service.payments.provider.PaymentProvider`; its ``name`` must be
    unique. A facility can use the methods of the providers of its enabled plugins.
    """


@hookspec
def register_routes() -> list[Any]:
    """Litestar route handlers this plugin serves (e.g. a provider's return page).

    Called once when the application is built, for every installed plugin; a handler
    must itself refuse requests for facilities that have not enabled the plugin.
    """


# --- check-in ---------------------------------------------------------------------------


@hookspec
def ticket_redeemed(facility: FacilityContext, redemption: Redemption) -> None:
    """A scan at a gate admitted a ticket (entry, exit or ride), after the commit.

    Fires once per admitted scan, never for refused ones. Exceptions are logged.
    """


# --- settings ---------------------------------------------------------------------------


@hookspec
def plugin_options() -> list[OptionField]:
    """The options this plugin reads from ``facility.options(<plugin name>)``.

    Called for every installed plugin (enabled or not) when a facility's settings are
    read or changed; the settings page shows a widget per field, and a change is refused
    (422, naming the field) unless every option it sets is declared and fits its field.
    A plugin that declares none takes no options from the settings page.
    """
