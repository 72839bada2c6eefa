"""Ticket and receipt layouts as printer-independent blocks.

A layout says *what* goes on the paper, in both languages; :mod:`kiosk_driver.printing`
decides *how* (Kanji mode or English-only text, native or raster QR, paper width). Keeping
the two apart lets a facility plugin supply another layout later without touching bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kippu_contract.invoices import is_registration_number
from kippu_contract.v1.common import FacilityOut
from kippu_contract.v1.kiosk import KioskOrderOut, TicketOut

Align = Literal["left", "center", "right"]
Size = Literal["normal", "double", "tall"]


@dataclass(frozen=True)
class Text:
    """A line (wrapped if long) in Japanese and English."""

    ja: str
    en: str
    align: Align = "left"
    bold: bool = False
    size: Size = "normal"


@dataclass(frozen=True)
class Row:
    """A label on the left and a value on the right, e.g. ``合計 ... ¥3,600``."""

    label_ja: str
    label_en: str
    value_ja: str
    value_en: str | None = None  # None: the same in both languages
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the paper."""


@dataclass(frozen=True)
class QR:
    """A QR code carrying ``data`` (the signed ticket token)."""

    data: str


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    """Feed and cut: one ticket per piece of paper."""


@dataclass(frozen=True)
class Tear:
    """A dashed tear-off line between the coupons of one book (printed on one strip)."""


Block = Text | Row | Rule | QR | Feed | Cut | Tear

PAYMENT_METHODS: dict[str, tuple[str, str]] = {
    "card": ("クレジットカード", "Credit card"),
    "emoney": ("電子マネー", "E-money"),
    "qr": ("QRコード決済", "QR code payment"),
}


def yen(amount: int) -> str:
    return f"¥{amount:,}"


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _datetime(value: dt.datetime | str | None) -> str:
    # As the core sent it (no conversion): the paper shows minutes, not seconds or zone.
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return (value or "")[:16].replace("T", " ")


def _registration(facility: FacilityOut) -> list[Block]:
    # A qualified invoice (適格請求書) must show the issuer's registration number; a number
    # that fails its check digit is not printed as one (the core refuses such numbers now,
    # but an older facility row may still hold one).
    if not is_registration_number(facility.tax_registration_number):
        return []
    number = facility.tax_registration_number
    return [Text(f"登録番号 {number}", f"Registration No. {number}", align="center")]


REPRINT = Text("再発行", "REPRINT", align="center", size="double", bold=True)


def _reprint_banner() -> list[Block]:
    return [REPRINT, Feed()]


def ticket_blocks(
    ticket: TicketOut, confirmation: KioskOrderOut, *, reprint: bool = False
) -> list[Block]:
    """One ticket: facility, product, category, validity, price with tax, QR.

    A ``reprint`` carries 再発行 / REPRINT at the top and beside the QR, so a second copy
    of a ticket can always be told from the first (staff, and gates, know to look).
    """
    if ticket.coupon_no:
        last = _last_of_book(ticket, confirmation.tickets)
        return coupon_blocks(ticket, confirmation, reprint=reprint, last=last)
    facility = confirmation.facility
    blocks: list[Block] = [
        *(_reprint_banner() if reprint else []),
        Text(facility.name_ja, facility.name_en, align="center", size="double"),
        Feed(),
        Text(ticket.product_name_ja, ticket.product_name_en, align="center", bold=True),
        Text(ticket.category_name_ja, ticket.category_name_en, align="center"),
    ]
    uses = ticket.uses_total
    coupon = ticket.product_kind == "coupon_book" or uses > 1
    if coupon and uses:
        blocks.append(
            Text(f"{uses}回券", f"{uses}-use ticket", align="center", size="tall", bold=True)
        )
    blocks.append(Rule())
    if ticket.holder_name:  # a pass is good for its holder only: the gate checks the name
        blocks.append(Row("ご利用者", "Holder", ticket.holder_name, bold=True))
    start, end = _date(ticket.valid_from), _date(ticket.valid_until)
    if start and (not end or end == start):
        blocks.append(Row("ご利用日", "Valid on", start))
    elif start or end:
        blocks.append(Row("有効期間", "Valid", f"{start} - {end}"))
    if ticket.slot:
        blocks.append(Row("入場時間", "Entry time", ticket.slot, bold=True))
    blocks += [
        Row("料金", "Price", yen(ticket.price), bold=True),
        Text(
            f"(税込 {ticket.tax_rate}%対象)",
            f"(incl. {ticket.tax_rate}% consumption tax)",
            align="right",
        ),
        Rule(),
        QR(ticket.qr_token),
        *([REPRINT] if reprint else []),
    ]
    if coupon and uses:
        blocks.append(
            Text(
                f"ご利用ごとにQRコードを読み取ります(全{uses}回)",
                f"Scan this QR code once per use ({uses} uses)",
                align="center",
            )
        )
    else:
        blocks.append(
            Text(
                "入場時にこのQRコードをご提示ください",
                "Show this QR code at the entrance",
                align="center",
            )
        )
    blocks += [
        Rule(),
        Row("注文番号", "Order", confirmation.order.code),
        Row("券番号", "Ticket", str(ticket.id)),
        *_registration(facility),
        Cut(),
    ]
    return blocks


def coupon_blocks(
    ticket: TicketOut, confirmation: KioskOrderOut, *, reprint: bool = False, last: bool = True
) -> list[Block]:
    """One tear-off coupon of a coupon book: 1回券 i/N with its own single-use QR.

    The coupons of a book share one strip: each but the ``last`` ends in a dashed tear
    line instead of a cut, so the visitor takes the book as one piece and tears coupons
    off as they ride. The book's price is printed once, on its first coupon.
    """
    facility = confirmation.facility
    number, count = ticket.coupon_no, ticket.coupon_count
    blocks: list[Block] = [
        *(_reprint_banner() if reprint else []),
        Text(facility.name_ja, facility.name_en, align="center", bold=True),
        Text(ticket.product_name_ja, ticket.product_name_en, align="center"),
        Text(ticket.category_name_ja, ticket.category_name_en, align="center"),
        Text(
            f"1回券 {number}/{count}",
            f"Ride coupon {number}/{count}",
            align="center",
            size="tall",
            bold=True,
        ),
        Rule(),
    ]
    start, end = _date(ticket.valid_from), _date(ticket.valid_until)
    if start and (not end or end == start):
        blocks.append(Row("ご利用日", "Valid on", start))
    elif start or end:
        blocks.append(Row("有効期間", "Valid", f"{start} - {end}"))
    if number == 1:
        blocks += [
            Row(f"料金({count}回分)", f"Price ({count} rides)", yen(ticket.price), bold=True),
            Text(
                f"(税込 {ticket.tax_rate}%対象)",
                f"(incl. {ticket.tax_rate}% consumption tax)",
                align="right",
            ),
        ]
    blocks += [
        QR(ticket.qr_token),
        *([REPRINT] if reprint else []),
        Text(
            "ご利用時にこのQRコードを読み取ります(1回限り)",
            "Scan this QR code for one ride (single use)",
            align="center",
        ),
        Row("注文番号", "Order", confirmation.order.code),
        Row("券番号", "Ticket", str(ticket.id)),
    ]
    if last:
        blocks += [*_registration(facility), Cut()]
    else:
        blocks.append(Tear())
    return blocks


def _last_of_book(ticket: TicketOut, tickets: Sequence[TicketOut]) -> bool:
    """Whether the paper is cut after this tear-off coupon (its book ends here)."""
    # The sale flow prints ticket by ticket (journalling each), so the strip decision is
    # made per coupon from the whole confirmation rather than by a caller that groups.
    ids = [t.id for t in tickets]
    if ticket.id not in ids:
        return True
    position = ids.index(ticket.id)
    following = tickets[position + 1] if position + 1 < len(tickets) else None
    return following is None or not following.coupon_no or following.book_id != ticket.book_id


def tickets_blocks(confirmation: KioskOrderOut) -> list[Block]:
    """Every ticket of a sale, each on its own cut piece of paper.

    Tear-off coupons of one book (same ``book_id``) stay on one strip, separated by
    tear lines; the strip is cut after the book's last coupon.
    """
    blocks: list[Block] = []
    for ticket in confirmation.tickets:
        blocks += ticket_blocks(ticket, confirmation)
    return blocks


def receipt_blocks(confirmation: KioskOrderOut, *, issued_at: str | None = None) -> list[Block]:
    """A receipt (領収書) with per-rate tax, payment method and a blank addressee line."""
    order, facility = confirmation.order, confirmation.facility
    method_ja, method_en = PAYMENT_METHODS.get(
        order.payment_method or "", (order.payment_method or "", order.payment_method or "")
    )
    blocks: list[Block] = [
        Text("領収書", "RECEIPT", align="center", size="double", bold=True),
        Feed(),
        # Left blank for the visitor to write the addressee by hand.
        Text("________________________ 様", "To: ________________________"),
        Feed(),
        Row("発行日", "Date", _datetime(issued_at or order.paid_at)),
        Row("注文番号", "Order", order.code),
        Rule(),
    ]
    for line in order.lines:
        blocks += [
            Text(
                f"{line.product_name_ja} {line.category_name_ja}",
                f"{line.product_name_en} {line.category_name_en}",
            ),
            Row(
                f"  {yen(line.unit_price)} × {line.quantity}",
                f"  {yen(line.unit_price)} x {line.quantity}",
                yen(line.line_total + line.discount),  # before the voucher, shown below
            ),
        ]
        if line.discount:
            code = order.voucher_code
            blocks.append(Row(f"  割引 ({code})", f"  Discount ({code})", f"-{yen(line.discount)}"))
    blocks += [Rule(), Row("合計", "Total", yen(order.total), bold=True)]
    for tax in sorted(order.tax_summary, key=lambda t: -t.rate):
        blocks.append(
            Text(
                f"({tax.rate}%対象 {yen(tax.total)} 内消費税 {yen(tax.tax)})",
                f"({tax.rate}% items {yen(tax.total)}, incl. tax {yen(tax.tax)})",
                align="right",
            )
        )
    blocks += [
        Row("お支払方法", "Paid by", method_ja, method_en),
        Feed(),
        Text("上記正に領収いたしました", "Received with thanks", align="center"),
        Rule(),
        Text(facility.name_ja, facility.name_en, align="center", bold=True),
        *_registration(facility),
        Cut(),
    ]
    return blocks


def plain_text(blocks: Sequence[Block], language: str = "ja") -> str:
    """The blocks as plain text in one language (logs, the UI's receipt preview, tests)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Text):
            out.append(block.ja if language == "ja" else block.en)
        elif isinstance(block, Row):
            label = block.label_ja if language == "ja" else block.label_en
            value = block.value_ja if language == "ja" or not block.value_en else block.value_en
            out.append(f"{label}  {value}")
        elif isinstance(block, Rule):
            out.append("-" * 32)
        elif isinstance(block, QR):
            out.append(f"[QR {block.data}]")
        elif isinstance(block, Feed):
            out.extend([""] * block.lines)
        elif isinstance(block, Cut):
            out.append("--- cut ---")
        elif isinstance(block, Tear):
            out.append("- " * 16)
    return "\n".join(out)
