"""Tear-off coupon books: N single-use tickets per book, each with its own QR and coupon."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import PriceCategory, Product
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from kiosk_driver.layout import plain_text, tickets_blocks
from kiosk_driver.printing import encode_sjis, print_ticket, print_tickets
from kiosk_driver.profiles import resolve_profile
from kippu_contract.v1.common import FacilityOut
from kippu_contract.v1.kiosk import KioskOrderOut, OrderOut, TicketOut

BOOK_PRICE = 1500
RIDES = 5


async def _tear_off_book(settings: Settings, demo: DemoFacility) -> int:
    """Add a 5-ride tear-off coupon book to the demo facility; its price category id."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            product = Product(
                facility_id=demo.facility_id,
                code="rides5tear",
                kind="coupon_book",
                name_ja="のりもの5回券(切り取り式)",
                name_en="5-ride tear-off coupon book",
                uses=RIDES,
                requires_date=False,
                validity_days=1,
                channels=["web", "kiosk"],
                coupon_tear_off=True,
            )
            session.add(product)
            await session.flush()
            category = PriceCategory(
                facility_id=demo.facility_id,
                product_id=product.id,
                code="standard",
                name_ja="一般",
                name_en="Standard",
                price=BOOK_PRICE,
            )
            session.add(category)
            await session.commit()
            return category.id
    finally:
        await engine.dispose()


async def _buy(
    client: AsyncTestClient, headers: dict, category: int, quantity: int, amount: int
) -> dict:
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category, "quantity": quantity}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-tear", "amount": amount},
        },
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _scan(client: AsyncTestClient, gate_headers: dict, token: str) -> str:
    response = await client.post(
        "/api/v1/gate/scan", json={"token": token, "direction": "ride"}, headers=gate_headers
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def test_tear_off_book_issues_single_use_tickets_each_admitted_once(
    db_settings: Settings,
    client: AsyncTestClient,
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
) -> None:
    category = await _tear_off_book(db_settings, demo)
    body = await _buy(client, kiosk_headers, category, 2, 2 * BOOK_PRICE)
    # The line still sells two books at the book price; ten coupons are issued.
    (line,) = body["order"]["lines"]
    assert (line["quantity"], line["unit_price"], body["order"]["total"]) == (
        2,
        BOOK_PRICE,
        2 * BOOK_PRICE,
    )
    tickets = body["tickets"]
    assert len(tickets) == 2 * RIDES
    assert {(t["uses_total"], t["uses_left"]) for t in tickets} == {(1, 1)}
    assert len({t["qr_token"] for t in tickets}) == 2 * RIDES
    assert [t["coupon_no"] for t in tickets] == [*range(1, RIDES + 1)] * 2
    assert {t["coupon_count"] for t in tickets} == {RIDES}
    books = [t["book_id"] for t in tickets]
    assert books == [tickets[0]["id"]] * RIDES + [tickets[RIDES]["id"]] * RIDES

    for ticket in tickets:
        assert await _scan(client, gate_headers, ticket["qr_token"]) == "admitted"
    assert await _scan(client, gate_headers, tickets[0]["qr_token"]) == "already_used"


async def test_one_qr_coupon_book_is_unchanged(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict
) -> None:
    body = await _buy(client, kiosk_headers, demo.coupon_category_id, 1, 3000)
    (ticket,) = body["tickets"]
    assert (ticket["uses_total"], ticket["book_id"], ticket["coupon_no"]) == (10, None, 0)


def _confirmation(books: int, rides: int = 3) -> KioskOrderOut:
    tickets = []
    for book in range(books):
        first = 500 + book * rides
        for number in range(1, rides + 1):
            tickets.append(
                TicketOut(
                    id=first + number - 1,
                    status="valid",
                    product_kind="coupon_book",
                    product_name_ja="のりもの回数券",
                    product_name_en="Ride coupon book",
                    category_name_ja="一般",
                    category_name_en="Standard",
                    price=1000,
                    tax_rate=10,
                    valid_from=dt.date(2026, 11, 25),
                    valid_until=dt.date(2026, 11, 25),
                    uses_total=1,
                    uses_left=1,
                    qr_token=f"kp1.token-{first + number - 1}",
                    book_id=first,
                    coupon_no=number,
                    coupon_count=rides,
                )
            )
    paid_at = dt.datetime(2026, 11, 25, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    return KioskOrderOut(
        order=OrderOut(
            code="K00001",
            channel="kiosk",
            status="paid",
            total=1000 * books,
            created_at=paid_at,
            paid_at=paid_at,
            payment_method="card",
            lines=[],
            tax_summary=[],
        ),
        tickets=tickets,
        facility=FacilityOut(
            id=1, slug="mori", name_ja="森", name_en="Forest", tax_registration_number=""
        ),
    )


def _native_qr_command(data: str) -> bytes:
    payload = data.encode()
    size = len(payload) + 3
    return b"\x1d(k" + bytes([size % 256, size // 256]) + b"1P0" + payload


def test_tear_off_book_prints_one_native_qr_per_coupon_and_one_cut_per_book() -> None:
    from escpos.printer import Dummy

    confirmation = _confirmation(books=2)
    profile = resolve_profile("epson-tm-t88-ja")
    printer = Dummy(profile=profile.escpos_profile)
    print_tickets(printer, profile, confirmation)
    output = printer.output
    for ticket in confirmation.tickets:
        assert output.count(_native_qr_command(ticket.qr_token)) == 1
    assert output.count(b"1P0kp1.") == 6  # GS ( k store-data: one QR per coupon, no more
    assert output.count(b"\x1dV") == 2  # one cut per book, tear lines inside it
    blocks = tickets_blocks(confirmation)
    ja, en = plain_text(blocks, "ja"), plain_text(blocks, "en")
    assert "1回券 1/3" in ja and "1回券 3/3" in ja and "3回券" not in ja
    assert "Ride coupon 2/3" in en
    assert ja.splitlines().count("- " * 16) == 4  # two tear lines per three-coupon book
    assert encode_sjis("1回券 2/3") in output


def test_coupon_printed_one_by_one_keeps_the_strip() -> None:
    """The sale flow prints ticket by ticket: only each book's last coupon is cut."""
    from escpos.printer import Dummy

    confirmation = _confirmation(books=1)
    profile = resolve_profile("epson-tm-t88-ja")
    printer = Dummy(profile=profile.escpos_profile)
    for ticket in confirmation.tickets[:-1]:
        print_ticket(printer, profile, ticket, confirmation)
    assert b"\x1dV" not in printer.output
    print_ticket(printer, profile, confirmation.tickets[-1], confirmation)
    assert printer.output.count(b"\x1dV") == 1


def test_raster_fallback_prints_coupons_without_native_qr() -> None:
    from escpos.printer import Dummy

    confirmation = _confirmation(books=1)
    profile = resolve_profile("generic-58")
    printer = Dummy(profile=profile.escpos_profile)
    print_tickets(printer, profile, confirmation)
    assert b"\x1d(k" not in printer.output
    assert printer.output.count(b"\x1dv0") == 3
    assert b"Ride coupon 3/3" in printer.output


async def test_cancelling_a_tear_off_book_is_refused_rather_than_over_refunded(
    db_settings: Settings, client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict
) -> None:
    """Each coupon carries the book's price: a per-coupon refund would pay N times too much."""
    from core_service.demo.data import DEMO_PASSWORD, demo_staff_email

    category = await _tear_off_book(db_settings, demo)
    code = (await _buy(client, kiosk_headers, category, 1, BOOK_PRICE))["order"]["code"]
    login = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": demo.slug,
            "email": demo_staff_email("manager"),
            "password": DEMO_PASSWORD,
        },
    )
    staff = {"Authorization": f"Bearer {login.json()['token']}", "Accept-Language": "en"}
    quote = await client.get(f"/api/v1/orders/{code}/cancellation-quote", headers=staff)
    assert quote.status_code == 409
    assert "Tear-off coupon books" in quote.json()["detail"]
