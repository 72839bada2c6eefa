"""Annual pass export for card printers (F16), served as ``GET /api/v1/passes/export.zip``
by :mod:`core_service.orders.pass_export_controllers`.

The ZIP holds ``passes.csv`` (UTF-8 with a BOM, so Excel on Japanese Windows opens the
holder names correctly) and one PNG and one SVG QR image per pass under ``qr/``. The QR
data is the same signed ticket token the gates verify (``presenters.ticket_token``), so a
printed card works at the gate without any other lookup; a pass handed on later gets a
new token and its printed card stops working, as with any ticket.

Holder names and birth dates are personal data: the route is for managers and owners
only, and every export is written to the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass

import segno
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Facility, Order, Product, Ticket, utcnow
from core_service.models.catalog import PassHolder
from core_service.orders.presenters import ticket_token
from core_service.platform.tenancy import Tenant

CSV_NAME = "passes.csv"
COLUMNS = (
    "ticket_id",
    "order_code",
    "holder_name",
    "birth_date",
    "product",
    "valid_from",
    "valid_until",
    "status",
    "qr_data",
    "qr_png",
    "qr_svg",
)
#: Module size of the PNG: ~300 px for a typical token, plenty for a 300 dpi card printer.
PNG_SCALE = 8


@dataclass(frozen=True, slots=True)
class PassRow:
    ticket: Ticket
    order_code: str
    product: Product
    holder: PassHolder | None


async def pass_rows(session: AsyncSession, facility_id: int) -> list[PassRow]:
    """Every annual pass ticket of the facility, with its order code and holder."""
    result = await session.execute(
        sa.select(Ticket, Order.code, Product, PassHolder)
        .join(Order, Order.id == Ticket.order_id)
        .join(Product, Product.id == Ticket.product_id)
        .outerjoin(PassHolder, PassHolder.ticket_id == Ticket.id)
        .where(Ticket.facility_id == facility_id, Product.kind == "annual_pass")
        .order_by(Ticket.id)
    )
    return [PassRow(t, code, p, h) for t, code, p, h in result]


def _iso(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def build_export(rows: list[PassRow], facility: Facility, secret_key: str) -> bytes:
    """The ZIP bytes: ``passes.csv`` plus ``qr/<ticket id>.png`` and ``.svg`` per pass."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")  # CRLF: what Excel writes and expects
    writer.writerow(COLUMNS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            ticket = row.ticket
            token = ticket_token(facility, ticket, secret_key)
            png_name, svg_name = f"qr/{ticket.id}.png", f"qr/{ticket.id}.svg"
            qr = segno.make(token, error="m", micro=False)
            png, svg = io.BytesIO(), io.BytesIO()
            qr.save(png, kind="png", scale=PNG_SCALE, border=4)
            qr.save(svg, kind="svg", scale=4, border=4)
            archive.writestr(png_name, png.getvalue())
            archive.writestr(svg_name, svg.getvalue())
            writer.writerow(
                (
                    ticket.id,
                    row.order_code,
                    row.holder.name if row.holder else ticket.holder_name,
                    _iso(row.holder.birth_date if row.holder else None),
                    row.product.name_ja,
                    _iso(ticket.valid_from),
                    _iso(ticket.valid_until),
                    ticket.status,
                    token,
                    png_name,
                    svg_name,
                )
            )
        archive.writestr(CSV_NAME, text.getvalue().encode("utf-8-sig"))
    return buffer.getvalue()


async def export_passes(
    session: AsyncSession, tenant: Tenant, *, actor: str, secret_key: str
) -> bytes:
    """The ZIP of every annual pass of the facility; the export is written to the audit log."""
    rows = await pass_rows(session, tenant.id)
    body = build_export(rows, tenant.facility, secret_key)
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action="passes.exported",
            subject="passes",
            data={"count": len(rows), "ticket_ids": [r.ticket.id for r in rows]},
        )
    )
    await session.commit()
    return body
