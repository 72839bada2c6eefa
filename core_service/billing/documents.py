"""A statement as the facility's owner downloads it: a PDF (請求書) and a CSV.

The platform operator is the issuer: its name and, when it is a registered issuer, its
qualified-invoice registration number (``KIPPU_PLATFORM_NAME``,
``KIPPU_PLATFORM_REGISTRATION_NUMBER``); the PDF is labelled a qualified invoice only
with a valid number, as the facilities' own receipts are.
"""

from __future__ import annotations

import csv
import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from core_service.aftersales.receipts import GOTHIC, MINCHO, yen_text
from core_service.models import Facility, SystemFeeStatement
from kippu_contract.invoices import is_registration_number

CSV_COLUMNS = ("number", "month", "facility", "item", "days", "monthly_fee", "amount")


def statement_csv(statement: SystemFeeStatement, facility: Facility) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs in Japan open it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    base = (statement.number, statement.month, facility.slug)
    for line in statement.lines:
        writer.writerow(
            (*base, f"plan:{line['plan']}", line["days"], line["monthly_fee"], line["amount"])
        )
    writer.writerow((*base, "subtotal", "", "", statement.subtotal))
    writer.writerow((*base, f"tax {statement.tax_rate}%", "", "", statement.tax))
    writer.writerow((*base, "total", "", "", statement.total))
    return ("\ufeff" + out.getvalue()).encode()


def statement_pdf(
    statement: SystemFeeStatement,
    facility: Facility,
    *,
    platform_name: str,
    registration_number: str,
) -> bytes:
    qualified = is_registration_number(registration_number)
    buffer = io.BytesIO()
    width, height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"請求書 {statement.number}")
    pdf.setAuthor(platform_name)
    left, right, y = 56, width - 56, height - 72
    pdf.setFont(MINCHO, 22)
    pdf.drawCentredString(width / 2, y, "請 求 書")
    pdf.setFont(GOTHIC, 9)
    subtitle = "適格請求書 / Invoice (qualified invoice)" if qualified else "Invoice"
    pdf.drawCentredString(width / 2, y - 14, subtitle)
    pdf.drawRightString(right, y, f"No. {statement.number}")
    issued = statement.issued_at.date()
    pdf.drawRightString(
        right, y - 12, f"発行日 / Date: {issued.year}年{issued.month}月{issued.day}日"
    )
    y -= 60
    pdf.setFont(MINCHO, 14)
    pdf.drawString(left, y, f"{facility.name_ja} 御中")
    pdf.setFont(GOTHIC, 9)
    pdf.drawString(left, y - 14, facility.name_en)
    y -= 44
    year, month = statement.month.split("-")
    pdf.drawString(
        left, y, f"{int(year)}年{int(month)}月分 システム利用料 / System fee for {statement.month}"
    )
    y -= 26
    pdf.setFont(GOTHIC, 16)
    pdf.drawString(left, y, f"ご請求金額 {yen_text(statement.total)} (税込 / tax included)")
    y -= 36
    pdf.setFont(GOTHIC, 9)
    pdf.drawString(left, y, "品目 / Item")
    pdf.drawRightString(left + 300, y, "日数 / Days")
    pdf.drawRightString(right, y, "金額 / Amount")
    pdf.line(left, y - 3, right, y - 3)
    for line in statement.lines:
        y -= 16
        pdf.drawString(
            left,
            y,
            f"システム利用料 {line['plan']} (月額 {yen_text(int(line['monthly_fee']))} 税別)",
        )
        pdf.drawRightString(left + 300, y, str(line["days"]))
        pdf.drawRightString(right, y, yen_text(int(line["amount"])))
    y -= 24
    for label, amount in (
        ("小計 / Subtotal", statement.subtotal),
        (f"消費税 {statement.tax_rate}% / Tax", statement.tax),
        ("合計 / Total", statement.total),
    ):
        pdf.drawString(left + 300, y, label)
        pdf.drawRightString(right, y, yen_text(amount))
        y -= 14
    pdf.drawString(
        left,
        y - 10,
        f"{statement.tax_rate}%対象 {yen_text(statement.subtotal)} 消費税 {yen_text(statement.tax)}",
    )
    pdf.setFont(GOTHIC, 10)
    pdf.drawRightString(right, 96, platform_name)
    if qualified:
        pdf.setFont(GOTHIC, 8)
        pdf.drawRightString(right, 82, f"登録番号 / Registration No.: {registration_number}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
