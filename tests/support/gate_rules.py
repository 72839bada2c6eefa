"""Builders for the gate-rule tests: products set up for a rule, holders with photos."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Product, Ticket
from core_service.models.catalog import PassHolder
from core_service.platform.settings import Settings
from tests.support.web import query, run_in_session


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


#: A tiny real PNG, as a holder's photo.
PNG = _png()


async def buy(
    client: AsyncTestClient[Any],
    kiosk_headers: dict[str, str],
    category: int,
    price: int,
    **line: Any,
) -> dict[str, Any]:
    """One ticket sold at the kiosk (``line`` adds ``slot``, ``holders``...), as answered."""
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category, "quantity": 1, **line}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "gate-rules", "amount": price},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()["tickets"][0]
    return ticket


async def uses_left(settings: Settings, ticket_id: int) -> int:
    rows = await query(settings, sa.select(Ticket.uses_left).where(Ticket.id == ticket_id))
    return int(rows[0][0])


async def set_product(settings: Settings, product_id: int, **values: Any) -> None:
    """Change a product's columns (what the product management API will do)."""

    async def work(session: AsyncSession) -> None:
        await session.execute(sa.update(Product).where(Product.id == product_id).values(**values))
        await session.commit()

    await run_in_session(settings, work)


async def give_holder(
    settings: Settings, ticket_id: int, name: str, photo: bytes | None = PNG
) -> None:
    """Give a sold ticket a holder, as checkout does for a pass (name, birth date, photo)."""

    async def work(session: AsyncSession) -> None:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.holder_name = name
        session.add(
            PassHolder(
                facility_id=ticket.facility_id,
                order_id=ticket.order_id,
                order_line_id=ticket.order_line_id,
                position=0,
                ticket_id=ticket.id,
                name=name,
                birth_date=dt.date(1990, 4, 1),
                photo=photo,
                photo_type="image/png" if photo is not None else "",
            )
        )
        await session.commit()

    await run_in_session(settings, work)
