"""Receipts (領収書, F5) as PDF, for online orders, with the visitor's addressee and purpose.

A receipt of a facility with a valid registration number (T + 13 digits, check digit:
:mod:`kippu_contract.invoices`) is a qualified invoice (適格請求書): the facility's name and
number, the date, the items with reduced-rate ones marked ※, the total per tax rate with
the tax in it (computed once per rate, :mod:`.tax`), and the payment method. Without a
valid number it is a plain receipt, not labelled as a qualified invoice. Long orders run
on to further pages. Refunds of cancelled
tickets are deducted, so the receipt states what the visitor finally paid.

Every issue is recorded (:class:`Receipt`); the second and later receipts of an order are
marked 再発行 (reissue), so two originals of one payment never exist. The PDF uses
ReportLab's built-in Japanese CID fonts, which need no font files: the viewer supplies
the glyphs.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from reportlab.lib.pagesizes import A5, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Cancellation, Order, Payment, Receipt, utcnow
from core_service.orders.tax import TaxLine, tax_summary
from core_service.platform.errors import Conflict, InvalidInput
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from kippu_contract.invoices import is_registration_number
from kippu_contract.states import PaymentState

GOTHIC = "HeiseiKakuGo-W5"
MINCHO = "HeiseiMin-W3"
MAX_FIELD = 60
#: Printed when the visitor leaves the purpose empty; receipts are Japanese documents.
DEFAULT_PURPOSE = "入場料として"
_METHOD_NAMES = {
    "card": "クレジットカード / Credit card",
    "konbini": "コンビニ払い / Convenience store",
    "paypay": "PayPay",
    "paidy": "あと払い(ペイディ) / Paidy",
    "emoney": "電子マネー / E-money",
    "qr": "QRコード決済 / QR payment",
}

for _font in (GOTHIC, MINCHO):
    pdfmetrics.registerFont(UnicodeCIDFont(_font))


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    name: str
    unit: int
    quantity: int
    amount: int
    tax_rate: int


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """Everything printed on a receipt, kept apart from drawing so tests can read it."""

    number: str
    reissue: bool
    issued_on: str
    facility_name: str
    facility_name_en: str
    registration_number: str
    #: A valid registration number is set: the receipt is a qualified invoice (適格請求書).
    qualified: bool
    contact: str
    order_code: str
    addressee: str
    purpose: str
    items: tuple[ReceiptItem, ...]
    total: int
    taxes: tuple[TaxLine, ...]
    payment_method: str


def clean_field(value: str, label_en: str, label_ja: str) -> str:
    text = " ".join((value or "").split())
    if len(text) > MAX_FIELD:
        raise InvalidInput(
            f"{label_en} can be at most {MAX_FIELD} characters.",
            f"{label_ja}は{MAX_FIELD}文字以内で入力してください。",
        )
    return text


async def receipts_of(session: AsyncSession, order: Order) -> list[Receipt]:
    rows = await session.scalars(
        sa.select(Receipt)
        .where(Receipt.facility_id == order.facility_id, Receipt.order_id == order.id)
        .order_by(Receipt.id)
    )
    return list(rows)


async def issue_receipt(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    *,
    addressee: str,
    purpose: str,
    locale: str,
) -> tuple[Receipt, bytes]:
    """Record a receipt for a paid (or later cancelled) order and render its PDF."""
    addressee = clean_field(addressee, "The addressee", "宛名")
    purpose = clean_field(purpose, "The purpose", "但し書き") or DEFAULT_PURPOSE
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.order_id == order.id, Payment.state == PaymentState.PAID)
        .limit(1)
    )
    if order.paid_at is None or payment is None:
        raise Conflict(
            "A receipt is issued once the order is paid.", "領収書はお支払い後に発行できます。"
        )
    cancellations = list(
        await session.scalars(sa.select(Cancellation).where(Cancellation.order_id == order.id))
    )
    order_code, order_id = order.code, order.id
    for _attempt in range(3):
        count = len(await receipts_of(session, order))
        receipt = Receipt(
            facility_id=tenant.id,
            order_id=order_id,
            number=f"{order_code}-{count + 1}",
            addressee=addressee,
            purpose=purpose,
            amount=order.total - sum(c.refund_amount for c in cancellations),
            reissue=count > 0,
            issued_at=utcnow(),
        )
        session.add(receipt)
        session.add(
            AuditLog(
                facility_id=tenant.id,
                at=receipt.issued_at,
                actor=f"order:{order_code}",
                action="receipt.reissued" if receipt.reissue else "receipt.issued",
                subject=f"order:{order_code}",
                data={"number": receipt.number},
            )
        )
        try:
            await session.commit()
            break
        except IntegrityError:
            # Two downloads at once took the same number: the later one becomes the next.
            await session.rollback()
            await refresh_after_rollback(session, tenant)
            await session.refresh(order)
    else:  # pragma: no cover - three collisions in a row
        raise Conflict("Please try again.", "もう一度お試しください。")
    data = receipt_data(tenant, order, receipt, payment, cancellations)
    return receipt, render_pdf(data)


def receipt_data(
    tenant: Tenant,
    order: Order,
    receipt: Receipt,
    payment: Payment,
    cancellations: list[Cancellation],
) -> ReceiptData:
    facility = tenant.facility
    items: list[ReceiptItem] = []
    net: dict[int, int] = defaultdict(int)
    for line in order.lines:
        name = f"{line.product_name_ja} {line.category_name_ja}"
        items.append(
            ReceiptItem(
                name, line.unit_price, line.quantity, line.unit_price * line.quantity, line.tax_rate
            )
        )
        if line.handling_fee:
            items.append(
                ReceiptItem(
                    f"手数料({line.product_name_ja})",
                    line.handling_fee,
                    line.quantity,
                    line.handling_fee * line.quantity,
                    line.tax_rate,
                )
            )
        if line.discount:
            # What the voucher took off this line (line_total is after it).
            items.append(
                ReceiptItem(
                    f"割引 / Discount ({order.voucher_code})",
                    -line.discount,
                    1,
                    -line.discount,
                    line.tax_rate,
                )
            )
        net[line.tax_rate] += line.line_total
    for cancellation in cancellations:
        for ticket in cancellation.detail.get("tickets", []):
            if ticket["refund"]:
                items.append(
                    ReceiptItem(
                        "キャンセル返金 / Refund",
                        -ticket["refund"],
                        1,
                        -ticket["refund"],
                        ticket["tax_rate"],
                    )
                )
                net[ticket["tax_rate"]] -= ticket["refund"]
    issued = receipt.issued_at.astimezone(ZoneInfo(facility.timezone)).date()
    return ReceiptData(
        number=receipt.number,
        reissue=receipt.reissue,
        issued_on=f"{issued.year}年{issued.month}月{issued.day}日",
        facility_name=facility.name_ja,
        facility_name_en=facility.name_en,
        registration_number=facility.tax_registration_number,
        qualified=is_registration_number(facility.tax_registration_number),
        contact=facility.contact_email,
        order_code=order.code,
        addressee=receipt.addressee,
        purpose=receipt.purpose,
        items=tuple(items),
        total=receipt.amount,
        taxes=tuple(tax_summary(net.items())),
        payment_method=_method_name(payment),
    )


def _method_name(payment: Payment) -> str:
    return _METHOD_NAMES.get(payment.method, payment.method)


def yen_text(amount: int) -> str:
    # The full-width yen sign: in the JIS-based CID fonts the ASCII-range "¥" can come
    # out as a backslash in viewers that substitute a Latin font.
    return f"￥{amount:,}" if amount >= 0 else f"-￥{-amount:,}"


#: Where the issuer block begins: item rows stop above it on every page.
BOTTOM = 84
ROW = 12
#: Rates below the standard one are the reduced rate (軽減税率: food and drink).
STANDARD_RATE = 10
REDUCED_MARK = "※"


def _totals_height(data: ReceiptData) -> int:
    # The tax lines, the reduced-rate note, payment and order lines below the items.
    return 16 + 11 * len(data.taxes) + 11 + 22


def _pages(data: ReceiptData, first_start: float, next_start: float) -> list[list[ReceiptItem]]:
    """The items of each page; the last page also has room for the totals."""
    reserve = -(-_totals_height(data) // ROW)  # rows the totals take, rounded up
    remaining = list(data.items)
    pages: list[list[ReceiptItem]] = []
    while True:
        capacity = int(((first_start if not pages else next_start) - BOTTOM) // ROW)
        if len(remaining) <= capacity - reserve:
            pages.append(remaining)
            return pages
        take = min(capacity, max(len(remaining) - 1, 0))
        pages.append(remaining[:take])
        remaining = remaining[take:]


def _item_name(item: ReceiptItem) -> str:
    mark = REDUCED_MARK if 0 < item.tax_rate < STANDARD_RATE else ""
    return f"{item.name}{mark} ({item.tax_rate}%)"


def render_pdf(data: ReceiptData) -> bytes:
    """A5 landscape pages, drawn directly (the layout is fixed, like a paper slip). Items
    that do not fit go on to further pages, each with the receipt number and "n / m"; the
    totals per tax rate close the last page."""
    buffer = io.BytesIO()
    width, height = landscape(A5)
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    title = "領収書(適格請求書)" if data.qualified else "領収書"
    pdf.setTitle(f"{title} {data.number}")
    pdf.setAuthor(data.facility_name)
    left, right = 36, width - 36
    first_start = height - 48 - 48 - 34 - 18 - 34 - ROW
    next_start = height - 70 - ROW
    pages = _pages(data, first_start, next_start)
    for index, items in enumerate(pages):
        if index == 0:
            y = _first_page_head(pdf, data, width, height, left, right)
        else:
            pdf.setFont(GOTHIC, 9)
            pdf.drawString(left, height - 40, f"{title}(続き) / Receipt (continued)")
            pdf.drawRightString(right, height - 40, f"No. {data.number}")
            y = height - 70
        pdf.setFont(GOTHIC, 8)
        pdf.drawString(left, y, "品目 / Item")
        pdf.drawRightString(left + 270, y, "単価 / Unit")
        pdf.drawRightString(left + 315, y, "数量")
        pdf.drawRightString(left + 400, y, "金額 / Amount")
        pdf.line(left, y - 3, left + 400, y - 3)
        for item in items:
            y -= ROW
            pdf.drawString(left, y, _item_name(item))
            pdf.drawRightString(left + 270, y, yen_text(item.unit))
            pdf.drawRightString(left + 315, y, str(item.quantity))
            pdf.drawRightString(left + 400, y, yen_text(item.amount))
        if index == len(pages) - 1:
            _totals(pdf, data, left, y - 16)
        _issuer(pdf, data, right)
        if len(pages) > 1:
            pdf.setFont(GOTHIC, 8)
            pdf.drawString(left, 30, f"{index + 1} / {len(pages)}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _first_page_head(
    pdf: canvas.Canvas, data: ReceiptData, width: float, height: float, left: float, right: float
) -> float:
    y = height - 48
    pdf.setFont(MINCHO, 22)
    pdf.drawCentredString(width / 2, y, "領 収 書")
    pdf.setFont(GOTHIC, 9)
    # Only a facility with a valid registration number issues qualified invoices.
    subtitle = "適格請求書 / Receipt (qualified invoice)" if data.qualified else "Receipt"
    pdf.drawCentredString(width / 2, y - 14, subtitle)
    if data.reissue:
        pdf.setFillColorRGB(0.75, 0, 0)
        pdf.setFont(GOTHIC, 12)
        pdf.drawString(left, y, "再発行 / Reissue")
        pdf.setFillColorRGB(0, 0, 0)
    pdf.setFont(GOTHIC, 9)
    pdf.drawRightString(right, y, f"No. {data.number}")
    pdf.drawRightString(right, y - 12, f"発行日 / Date: {data.issued_on}")
    y -= 48
    pdf.setFont(MINCHO, 14)
    pdf.drawString(left, y, f"{data.addressee} 様" if data.addressee else "　　　　　　　　　　 様")
    pdf.line(left, y - 4, left + 260, y - 4)
    y -= 34
    pdf.setFont(GOTHIC, 18)
    pdf.drawString(left, y, f"金額 {yen_text(data.total)}-")
    pdf.setFont(GOTHIC, 9)
    pdf.drawString(left + 200, y, "(税込 / tax included)")
    y -= 18
    pdf.drawString(left, y, f"但し {data.purpose}")
    pdf.drawString(left, y - 12, "上記正に領収いたしました。 / Received with thanks.")
    return y - 34


def _totals(pdf: canvas.Canvas, data: ReceiptData, left: float, y: float) -> None:
    pdf.setFont(GOTHIC, 8)
    for tax in data.taxes:
        reduced = f" {REDUCED_MARK}軽減税率" if 0 < tax.rate < STANDARD_RATE else ""
        pdf.drawString(
            left,
            y,
            f"{tax.rate}%対象{reduced} {yen_text(tax.total)}  (内消費税 {yen_text(tax.tax)})"
            f" / {tax.rate}% taxable, tax {yen_text(tax.tax)}",
        )
        y -= 11
    if any(0 < item.tax_rate < STANDARD_RATE for item in data.items):
        pdf.drawString(left, y, f"{REDUCED_MARK}は軽減税率対象 / {REDUCED_MARK} reduced tax rate")
        y -= 11
    pdf.drawString(left, y, f"お支払い方法 / Payment: {data.payment_method}")
    pdf.drawString(left, y - 11, f"ご注文番号 / Order: {data.order_code}")


def _issuer(pdf: canvas.Canvas, data: ReceiptData, right: float) -> None:
    # The issuer block sits bottom right, where Japanese receipts put the seal.
    pdf.setFont(GOTHIC, 10)
    pdf.drawRightString(right, 66, data.facility_name)
    pdf.setFont(GOTHIC, 8)
    pdf.drawRightString(right, 54, data.facility_name_en)
    if data.qualified:
        pdf.drawRightString(right, 42, f"登録番号 / Registration No.: {data.registration_number}")
    if data.contact:
        pdf.drawRightString(right, 30, data.contact)
