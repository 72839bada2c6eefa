"""Audit log state: the facility's set-up changes, newest first, a page at a time.

A ``param.Parameterized`` without Panel, over ``GET /api/v1/audit`` (managers and owners).
"""

from __future__ import annotations

import json

import pandas as pd
import param

from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE
from workbench.moments import local_time

AUDIT_COLUMNS = ["at", "actor", "action", "subject", "data"]
PAGE_SIZE = 50


class AuditState(param.Parameterized):
    #: The facility\'s time zone, for the times shown.
    timezone = param.String(default=DEFAULT_TIMEZONE)
    entries = param.DataFrame(default=None, allow_None=True, constant=True)
    #: ``before`` of the shown page (None: the newest) and of the next, older one.
    before = param.Integer(default=None, allow_None=True, constant=True)
    next_before = param.Integer(default=None, allow_None=True, constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, page_size: int = PAGE_SIZE, **params: object) -> None:
        self._core = core
        self._page_size = page_size
        super().__init__(**params)
        self.refresh()

    def refresh(self) -> bool:
        try:
            page = self._core.audit(self._page_size, self.before)
        except (CoreRefused, CoreUnavailable) as exc:
            with param.edit_constant(self):
                self.message = str(exc)
            return False
        frame = pd.DataFrame(
            [
                {
                    "at": local_time(e.at, self.timezone),
                    "actor": e.actor,
                    "action": e.action,
                    "subject": e.subject,
                    "data": json.dumps(e.data, ensure_ascii=False, default=str)[:300],
                }
                for e in page.entries
            ],
            columns=AUDIT_COLUMNS,
        )
        with param.edit_constant(self):
            self.param.update(entries=frame, next_before=page.next_before, message="")
        return True

    def older(self) -> None:
        if self.next_before is not None:
            with param.edit_constant(self):
                self.before = self.next_before
            self.refresh()

    def newest(self) -> None:
        with param.edit_constant(self):
            self.before = None
        self.refresh()
