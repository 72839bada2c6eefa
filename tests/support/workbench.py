"""Test data for the exporter, workbench and notebook tests.

Inserts rows through the models into a migrated database (SQLite or PostgreSQL, whatever
the settings name). The builder's methods are synchronous, each running one short async
session with ``asyncio.run``, so plain (non-async) tests can interleave inserts with
``run_export``, which runs its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from core_service.app import create_app
from core_service.demo.data import DEMO_PASSWORD, DEMO_SLUG, demo_staff_email
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
    Ticket,
)
from core_service.platform.settings import Settings
from tests.support.migrated import migrated_sqlite
from workbench.core_client import CoreAPI

JST = dt.timezone(dt.timedelta(hours=9))
SECRET_EMAIL = "hanako.secret@example.jp"
SECRET_NAME = "山田花子"


def make_settings(tmp_path: Path) -> Settings:
    """Settings on a fresh, migrated SQLite database under ``tmp_path``."""
    return Settings(database_url=migrated_sqlite(tmp_path / "x.sqlite3"), var_dir=tmp_path)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of ``day`` in Japan time, as UTC (what the columns store)."""
    return dt.datetime.combine(day, dt.time(hour, minute), JST).astimezone(dt.UTC)


class Builder:
    """Inserts facilities, products, orders, tickets and scans with few arguments."""

    _codes = itertools.count(1)

    def __init__(self, settings: Settings) -> None:
        # NullPool: every asyncio.run has its own event loop, so connections must not outlive it.
        self.engine = create_async_engine(settings.database_url, poolclass=NullPool)

    def close(self) -> None:
        asyncio.run(self.engine.dispose())

    def add_all(self, objs: list[Any]) -> list[Any]:
        async def go() -> None:
            async with AsyncSession(self.engine, expire_on_commit=False) as session:
                session.add_all(objs)
                await session.commit()

        asyncio.run(go())
        return objs

    def add(self, obj: Any) -> Any:
        return self.add_all([obj])[0]

    def execute(self, statement: sa.Executable) -> None:
        async def go() -> None:
            async with self.engine.begin() as conn:
                await conn.execute(statement)

        asyncio.run(go())

    def update_ticket(self, ticket: Ticket, **values: Any) -> None:
        """Change a ticket as the core would (``updated_at`` moves unless given)."""
        self.execute(sa.update(Ticket).where(Ticket.id == ticket.id).values(**values))

    def facility(self, slug: str, tz: str = "Asia/Tokyo") -> Facility:
        return self.add(
            Facility(
                slug=slug,
                name_ja=f"{slug}パーク",
                name_en=f"{slug} park",
                timezone=tz,
                signing_key_encrypted="dummy",
                signing_public_key="dummy",
                contact_email=f"office@{slug}.example",
            )
        )

    def product(
        self, facility: Facility, kind: str = "day_admission"
    ) -> tuple[Product, PriceCategory]:
        product = self.add(
            Product(
                facility_id=facility.id,
                code=f"{kind}-{next(self._codes)}",
                kind=kind,
                name_ja=kind,
                name_en=kind,
                daily_capacity=None,
            )
        )
        category = self.add(
            PriceCategory(
                facility_id=facility.id,
                product_id=product.id,
                code="adult",
                name_ja="大人",
                name_en="Adult",
                price=1800,
                handling_fee=200,
            )
        )
        return product, category

    def gate(self, facility: Facility, name: str = "正門") -> Device:
        return self.add(Device(facility_id=facility.id, kind="gate", name=name))

    def customer(self, facility: Facility, email: str = SECRET_EMAIL) -> Customer:
        return self.add(
            Customer(
                facility_id=facility.id,
                email=email,
                name=SECRET_NAME,
                pseudonym=f"c{next(self._codes):08d}",
                marketing_opt_in=True,
            )
        )

    def order(
        self,
        facility: Facility,
        product: tuple[Product, PriceCategory],
        day: dt.date,
        quantity: int = 1,
        customer: Customer | None = None,
        created_at: dt.datetime | None = None,
        channel: str = "web",
        unit_price: int = 1800,
    ) -> list[Ticket]:
        """A paid order of ``quantity`` tickets valid on ``day``; returns the tickets."""
        prod, cat = product
        created_at = created_at or at(day, 9)
        order = self.add(
            Order(
                facility_id=facility.id,
                code=f"K{next(self._codes):06d}",
                channel=channel,
                status="paid",
                customer_id=customer.id if customer else None,
                total=(unit_price + 200) * quantity,
                access_key="k",
                paid_at=created_at,
                created_at=created_at,
            )
        )
        line = self.add(
            OrderLine(
                facility_id=facility.id,
                order_id=order.id,
                product_id=prod.id,
                price_category_id=cat.id,
                product_name_ja=prod.name_ja,
                product_name_en=prod.name_en,
                category_name_ja=cat.name_ja,
                category_name_en=cat.name_en,
                visit_date=day,
                quantity=quantity,
                unit_price=unit_price,
                handling_fee=200,
                tax_rate=10,
                line_total=(unit_price + 200) * quantity,
                created_at=created_at,
            )
        )
        valid_until = day + dt.timedelta(days=364) if prod.kind == "annual_pass" else day
        tickets = [
            Ticket(
                facility_id=facility.id,
                order_id=order.id,
                order_line_id=line.id,
                product_id=prod.id,
                price_category_id=cat.id,
                valid_from=day,
                valid_until=valid_until,
                holder_name=SECRET_NAME,
            )
            for _ in range(quantity)
        ]
        return self.add_all(tickets)

    def scan(
        self,
        ticket: Ticket,
        when: dt.datetime,
        gate: Device | None = None,
        result: str = "admitted",
        direction: str = "entry",
        facility_id: int | None = None,
    ) -> CheckIn:
        """A scan of ``ticket``, recorded at the ticket's facility unless told otherwise."""
        return self.add(
            CheckIn(
                facility_id=facility_id or ticket.facility_id,
                ticket_id=ticket.id,
                device_id=gate.id if gate else None,
                direction=direction,
                result=result,
                scanned_at=when,
            )
        )

    def pay(self, ticket: Ticket, method: str, amount: int, state: str = "paid") -> Payment:
        """A payment record of the ticket's order (sales by method read these)."""
        return self.add(
            Payment(
                facility_id=ticket.facility_id,
                order_id=ticket.order_id,
                provider="demo",
                method=method,
                state=state,
                amount=amount,
            )
        )

    def cancel(self, ticket: Ticket) -> None:
        self.update_ticket(ticket, status="cancelled")


@contextlib.contextmanager
def core_api(settings: Settings, role: str, slug: str = DEMO_SLUG) -> Iterator[CoreAPI]:
    """The real core app in-process, and a :class:`CoreAPI` logged in as the demo ``role``."""
    with TestClient(app=create_app(settings, background=False)) as client:
        response = client.post(
            "/api/v1/auth/login",
            json={
                "facility": slug,
                "email": demo_staff_email(role, slug),
                "password": DEMO_PASSWORD,
            },
        )
        assert response.status_code == 200, response.text
        yield CoreAPI(client, response.json()["token"])


class FacilityRef:
    """Just the id, which is all :class:`Builder` needs of a facility it did not create."""

    def __init__(self, facility_id: int) -> None:
        self.id = facility_id


def rendered_text(page: Any) -> str:
    """Every text, column title and table cell a Panel page's Bokeh models carry."""
    import panel as pn
    from bokeh.document import Document

    root = pn.panel(page).get_root(Document())
    parts: list[Any] = []
    for model in root.references():
        parts.append(getattr(model, "text", ""))
        parts.append(getattr(model, "title", ""))
        data = getattr(model, "data", None)
        if isinstance(data, dict):
            parts.extend(str(list(v)) for v in data.values())
    return " ".join(str(p) for p in parts)
