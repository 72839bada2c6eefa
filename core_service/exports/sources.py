"""The SQL side of the exporter: one SELECT per exported table, and its partition date.

Each query selects exactly the columns of :data:`kippu_contract.export_schema.TABLES`,
joining in the small lookups (customer pseudonym, product kind, price-category code, gate
name) so that readers never need the OLTP database. Personal data (e-mail, names, phone,
ticket holder names) is never selected, so it cannot leak into a Parquet file.

The exporter reads these queries' rows as the database driver returns them
(:mod:`core_service.exports.fetch`) and converts whole columns to Arrow
(:mod:`core_service.exports.batches`); SQLAlchemy's per-row result processing was where
most of an export's time used to go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import sqlalchemy as sa

from core_service.models import (
    CheckIn,
    Customer,
    Device,
    Facility,
    Order,
    OrderLine,
    Payment,
    PriceCategory,
    Product,
    Refund,
    Ticket,
)

#: A SELECT of any columns (each table's query has its own row type).
Query: TypeAlias = sa.Select[*tuple[Any, ...]]


def _facilities() -> Query:
    return sa.select(
        Facility.id.label("facility_id"),
        Facility.id,
        Facility.slug,
        Facility.name_ja,
        Facility.name_en,
        Facility.timezone,
        Facility.created_at,
        Facility.updated_at,
    )


def _products() -> Query:
    return sa.select(
        Product.facility_id,
        Product.id,
        Product.code,
        Product.kind,
        Product.name_ja,
        Product.name_en,
        Product.tax_rate,
        Product.uses,
        Product.active,
        Product.created_at,
        Product.updated_at,
    )


def _customers() -> Query:
    return sa.select(
        Customer.facility_id,
        Customer.id,
        Customer.pseudonym.label("customer_key"),
        Customer.marketing_opt_in,
        Customer.first_purchase_at,
        Customer.created_at,
        Customer.updated_at,
    )


def _orders() -> Query:
    return sa.select(
        Order.facility_id,
        Order.id,
        Order.code,
        Order.channel,
        Order.status,
        Order.total,
        Order.voucher_code,
        Order.discount,
        Customer.pseudonym.label("customer_key"),
        Order.created_at,
        Order.paid_at,
        Order.cancelled_at,
        Order.updated_at,
    ).outerjoin(Customer, Customer.id == Order.customer_id)


def _order_lines() -> Query:
    return sa.select(
        OrderLine.facility_id,
        OrderLine.id,
        OrderLine.order_id,
        OrderLine.product_id,
        OrderLine.price_category_id,
        PriceCategory.code.label("price_category_code"),
        OrderLine.visit_date,
        OrderLine.slot,
        OrderLine.quantity,
        OrderLine.unit_price,
        OrderLine.handling_fee,
        OrderLine.tax_rate,
        OrderLine.line_total,
        OrderLine.discount,
        OrderLine.created_at,
        OrderLine.updated_at,
    ).outerjoin(PriceCategory, PriceCategory.id == OrderLine.price_category_id)


def _tickets() -> Query:
    return (
        sa.select(
            Ticket.facility_id,
            Ticket.id,
            Ticket.order_id,
            Ticket.product_id,
            Product.code.label("product_code"),
            Product.kind.label("product_kind"),
            PriceCategory.code.label("price_category_code"),
            Ticket.status,
            Ticket.valid_from,
            Ticket.valid_until,
            Ticket.uses_total,
            Ticket.uses_left,
            Ticket.updated_at,
        )
        .outerjoin(Product, Product.id == Ticket.product_id)
        .outerjoin(PriceCategory, PriceCategory.id == Ticket.price_category_id)
    )


def _checkins() -> Query:
    return sa.select(
        CheckIn.facility_id,
        CheckIn.id,
        CheckIn.ticket_id,
        CheckIn.device_id,
        Device.name.label("gate_name"),
        CheckIn.direction,
        CheckIn.result,
        CheckIn.reason,
        CheckIn.scanned_at,
    ).outerjoin(Device, Device.id == CheckIn.device_id)


def _payments() -> Query:
    return sa.select(
        Payment.facility_id,
        Payment.id,
        Payment.order_id,
        Payment.provider,
        Payment.method,
        Payment.state,
        Payment.amount,
        Payment.created_at,
        Payment.updated_at,
    )


def _refunds() -> Query:
    # Not selected: idempotency_key (sent to the provider, a replay handle), provider_ref
    # (the provider's own id, as for payments) and last_error (free text from a provider
    # that may quote the customer). The order and cancellation ids join to the rest.
    return sa.select(
        Refund.facility_id,
        Refund.id,
        Refund.order_id,
        Refund.cancellation_id,
        Refund.payment_id,
        Refund.provider,
        Refund.method,
        Refund.state,
        Refund.amount,
        Refund.attempts,
        Refund.created_at,
        Refund.refunded_at,
        Refund.updated_at,
    )


def _devices() -> Query:
    # The token hashes are secrets and never selected; the status is the device's own
    # heartbeat (no personal data). It is read as its JSON text, because each driver
    # would decode it its own way (see JSON_COLUMNS).
    return sa.select(
        Device.facility_id,
        Device.id,
        Device.kind,
        Device.name,
        Device.revoked_at.is_not(None).label("revoked"),
        Device.last_seen_at,
        sa.cast(Device.status, sa.Text).label("status_json"),
        Device.updated_at,
    )


# (query builder, model, watermark column name, column giving the partition date); the
# watermark column is the one readers order versions of a row by.
_SOURCES: dict[str, tuple[Callable[[], Query], type[Any], str, str]] = {
    "facilities": (_facilities, Facility, "updated_at", "created_at"),
    "products": (_products, Product, "updated_at", "created_at"),
    "customers": (_customers, Customer, "updated_at", "created_at"),
    "orders": (_orders, Order, "updated_at", "created_at"),
    "order_lines": (_order_lines, OrderLine, "updated_at", "created_at"),
    "tickets": (_tickets, Ticket, "updated_at", "valid_from"),
    "checkins": (_checkins, CheckIn, "scanned_at", "scanned_at"),
    "payments": (_payments, Payment, "updated_at", "created_at"),
    "refunds": (_refunds, Refund, "updated_at", "created_at"),
    # Dated by the last change, so each heartbeat version lands on the day it was seen.
    "devices": (_devices, Device, "updated_at", "updated_at"),
}


#: Columns read as JSON text, per table; the exporter re-serialises them uniformly.
JSON_COLUMNS: dict[str, frozenset[str]] = {"devices": frozenset({"status_json"})}


#: The label of the ``export_seq`` column the exporter's queries add after the exported ones.
SEQ_COLUMN = "_export_seq"


def changed_since(table: str, lower: int | None) -> Query:
    """Rows of ``table`` whose ``export_seq`` is at or above ``lower`` (all if None),
    with ``export_seq`` as the last column (:data:`SEQ_COLUMN`), ordered by it, then id.
    """
    build, model, _, _ = _SOURCES[table]
    seq = model.export_seq
    stmt = build().add_columns(seq.label(SEQ_COLUMN))
    if lower is not None:
        stmt = stmt.where(seq >= lower)
    return stmt.order_by(seq, model.id)


def bound_query(table: str, dialect: str) -> Query:
    """The ``export_seq`` below which every row of ``table`` is visible to reads from now
    on (see :mod:`core_service.models.export_seq`)."""
    if dialect == "postgresql":
        xmin = sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot())
        return sa.select(sa.cast(sa.cast(xmin, sa.Text), sa.BigInteger))
    model = _SOURCES[table][1]
    return sa.select(sa.func.coalesce(sa.func.max(model.export_seq), 0) + 1)


def partition_source(table: str) -> str:
    """The column whose local calendar date is the ``date`` partition key of ``table``.

    A timestamp is converted to the facility's time zone; a date (a ticket's
    ``valid_from``) is the key as it is.
    """
    return _SOURCES[table][3]


def facility_timezones_query() -> Query:
    return sa.select(Facility.id, Facility.timezone)
