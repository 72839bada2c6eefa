"""Billing state: the facility's monthly system-fee statements and their PDF and CSV (F26).

A ``param.Parameterized`` without Panel over ``GET /api/v1/billing/statements`` (owners
only; the core refuses everyone else, and the page is hidden from them).
"""

from __future__ import annotations

import pandas as pd
import param

from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable

COLUMNS = ["month", "number", "subtotal", "tax", "total", "issued_at"]


class BillingState(param.Parameterized):
    statements = param.DataFrame(default=None, allow_None=True, constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        super().__init__(**params)
        self.refresh()

    def refresh(self) -> None:
        try:
            rows = self._core.billing_statements()
        except (CoreRefused, CoreUnavailable) as exc:
            with param.edit_constant(self):
                self.param.update(statements=None, message=str(exc))
            return
        frame = pd.DataFrame(
            [
                {
                    "month": s.month,
                    "number": s.number,
                    "subtotal": s.subtotal,
                    "tax": s.tax,
                    "total": s.total,
                    "issued_at": s.issued_at.date().isoformat(),
                }
                for s in rows
            ],
            columns=COLUMNS,
        )
        with param.edit_constant(self):
            self.param.update(statements=frame, message="")

    def months(self) -> list[str]:
        return [] if self.statements is None else list(self.statements["month"])

    def document(self, month: str, kind: str) -> bytes:
        """The PDF or CSV of one month, fetched when the owner clicks its button."""
        return self._core.statement_document(month, kind)
