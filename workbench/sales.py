"""Sales state (F20): a date range, its sales lines and the breakdowns and downloads.

A ``param.Parameterized`` without Panel. Figures come from DuckDB over the exports; for
roles that may call ``GET /api/v1/reports/sales`` (managers and owners), :meth:`check_core`
compares them with the core's own figures, to the yen.
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import param

from kippu_contract.v1.staff import SalesReportOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import ExportSource
from workbench.data_sales import SALES_COLUMNS

BREAKDOWNS = ("day", "channel", "method", "product")


class SalesState(param.Parameterized):
    facility_id = param.Integer(default=1, bounds=(1, None))
    date_from = param.CalendarDate(default=None, allow_None=True)
    date_to = param.CalendarDate(default=None, allow_None=True)
    lang = param.Selector(default="ja", objects=["ja", "en"])

    lines = param.DataFrame(
        default=None, allow_None=True, constant=True, doc=", ".join(SALES_COLUMNS)
    )
    total_amount = param.Integer(default=0, constant=True, doc="Yen, tax included.")
    total_quantity = param.Integer(default=0, constant=True)
    #: None: not checked (role or core unavailable); True/False: the core agreed or not.
    core_agrees = param.Boolean(default=None, allow_None=True, constant=True)
    error = param.String(default="", constant=True)

    def __init__(self, source: ExportSource, core: CoreAPI | None = None, **params: object) -> None:
        self._source = source
        self._core = core
        super().__init__(**params)
        today = source.today(self.facility_id)
        if self.date_to is None:
            self.date_to = today
        if self.date_from is None:
            self.date_from = self.date_to - dt.timedelta(days=6)
        self.refresh()

    @param.depends("facility_id", "date_from", "date_to", watch=True)
    def refresh(self) -> None:
        self._source.refresh()
        day_from, day_to = self.date_from, self.date_to
        if day_from is None or day_to is None or day_to < day_from:
            frame = pd.DataFrame(columns=SALES_COLUMNS)
            error = "range"
        else:
            frame = self._source.sales_lines(self.facility_id, day_from, day_to)
            error = ""
        with param.edit_constant(self):
            self.param.update(
                lines=frame,
                total_amount=int(frame["amount"].sum()) if len(frame) else 0,
                total_quantity=int(frame["quantity"].sum()) if len(frame) else 0,
                core_agrees=None,
                error=error,
            )

    def breakdown(self, by: str) -> pd.DataFrame:
        """Quantity and amount by ``day``, ``channel``, ``method`` or ``product`` (named)."""
        if by not in BREAKDOWNS:
            raise ValueError(by)
        frame = self.lines if self.lines is not None else pd.DataFrame(columns=SALES_COLUMNS)
        column = "product_id" if by == "product" else by
        out = (
            frame.groupby(column, as_index=False)[["quantity", "amount"]].sum()
            if len(frame)
            else pd.DataFrame({column: [], "quantity": [], "amount": []})
        )
        if by == "product":
            names = self._source.product_names(self.facility_id)
            label = "name_ja" if self.lang == "ja" else "name_en"
            mapping = dict(zip(names["id"], names[label], strict=False))
            out.insert(1, "product", out["product_id"].map(lambda i: mapping.get(i, str(i))))
        return out.astype({"quantity": "int64", "amount": "int64"})

    def check_core(self) -> bool | None:
        """Compare with ``GET /api/v1/reports/sales``; None when not allowed or unreachable."""
        if self._core is None or self.date_from is None or self.date_to is None:
            return None
        try:
            report = self._core.sales_report(self.date_from, self.date_to)
        except (CoreRefused, CoreUnavailable):
            agrees = None
        else:
            agrees = core_rows(report) == export_rows(self.lines)
        with param.edit_constant(self):
            self.core_agrees = agrees
        return agrees

    # -- downloads: aggregates only, so every role that sees the page may download ------

    def download_frame(self) -> pd.DataFrame:
        frame = self.lines if self.lines is not None else pd.DataFrame(columns=SALES_COLUMNS)
        names = self._source.product_names(self.facility_id)
        label = "name_ja" if self.lang == "ja" else "name_en"
        mapping = dict(zip(names["id"], names[label], strict=False))
        return frame.assign(product=frame["product_id"].map(lambda i: mapping.get(i, str(i))))

    def csv_bytes(self) -> bytes:
        # UTF-8 with BOM: Excel in Japan opens it without mojibake.
        return self.download_frame().to_csv(index=False).encode("utf-8-sig")

    def xlsx_bytes(self) -> bytes:
        """One sheet per breakdown plus the lines (needs the ``xlsxwriter`` package)."""
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="xlsxwriter") as writer:
            self.download_frame().to_excel(writer, sheet_name="lines", index=False)
            for by in BREAKDOWNS:
                self.breakdown(by).to_excel(writer, sheet_name=by, index=False)
        return buffer.getvalue()


def core_rows(report: SalesReportOut) -> list[tuple[str, str, str, int, int, int]]:
    return sorted(
        (str(r.day), r.channel, r.method, r.product_id, r.quantity, r.amount) for r in report.rows
    )


def export_rows(frame: pd.DataFrame | None) -> list[tuple[str, str, str, int, int, int]]:
    if frame is None or frame.empty:
        return []
    return sorted(
        (str(r.day), r.channel, r.method, int(r.product_id), int(r.quantity), int(r.amount))
        for r in frame.itertuples()
    )
