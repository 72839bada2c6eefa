"""Webhooks state: the facility's endpoints and its delivery log, a page at a time.

A ``param.Parameterized`` without Panel, over ``GET /api/v1/webhooks/endpoints`` and
``GET /api/v1/webhooks/deliveries`` (owners and managers; the core refuses everyone
else, and a refusal leaves the tables empty with the core's message). Endpoints are
managed through the core's API (docs/webhooks.md); this page shows what they receive.
"""

from __future__ import annotations

import pandas as pd
import param

from kippu_contract.v1.staff import WebhookDeliveryOut, WebhookEndpointOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE
from workbench.moments import local_time

ENDPOINT_COLUMNS = ["id", "url", "events", "active", "description"]
DELIVERY_COLUMNS = [
    "id",
    "event",
    "created",
    "url",
    "status",
    "attempts",
    "last_code",
    "last_error",
    "next",
    "delivered",
]
PAGE_SIZE = 50


def endpoints_frame(endpoints: list[WebhookEndpointOut]) -> pd.DataFrame:
    rows = [
        {
            "id": e.id,
            "url": e.url,
            "events": ", ".join(e.events),
            "active": e.active,
            "description": e.description,
        }
        for e in endpoints
    ]
    return pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)


def deliveries_frame(
    deliveries: list[WebhookDeliveryOut], timezone: str = DEFAULT_TIMEZONE
) -> pd.DataFrame:
    """One row per delivery; times as text in the facility's time zone."""
    rows = [
        {
            "id": d.id,
            "event": d.event_type,
            "created": local_time(d.event_created_at, timezone),
            "url": d.endpoint_url,
            "status": d.status,
            "attempts": d.attempts,
            # Nullable integers: a frame column of ints and None would turn into floats.
            "last_code": pd.NA if d.last_status_code is None else d.last_status_code,
            "last_error": d.last_error,
            "next": local_time(d.next_attempt_at, timezone),
            "delivered": local_time(d.delivered_at, timezone),
        }
        for d in deliveries
    ]
    frame = pd.DataFrame(rows, columns=DELIVERY_COLUMNS)
    frame["last_code"] = frame["last_code"].astype("Int64")
    return frame


class WebhooksState(param.Parameterized):
    endpoints = param.DataFrame(default=None, allow_None=True, constant=True)
    deliveries = param.DataFrame(default=None, allow_None=True, constant=True)
    #: The page of deliveries shown starts below this id (None: the newest).
    before = param.Integer(default=None, allow_None=True, constant=True)
    #: Where the next older page starts (None: this is the oldest page).
    next_before = param.Integer(default=None, allow_None=True, constant=True)
    message = param.String(default="", constant=True)
    timezone = param.String(default=DEFAULT_TIMEZONE, constant=True, doc="The facility's zone.")

    def __init__(self, core: CoreAPI, page_size: int = PAGE_SIZE, **params: object) -> None:
        self._core = core
        self._page_size = page_size
        super().__init__(**params)
        self.refresh()

    def refresh(self) -> None:
        """Read the endpoints and the current page of deliveries again."""
        try:
            endpoints = self._core.webhook_endpoints()
            page = self._core.webhook_deliveries(self._page_size, self.before)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        with param.edit_constant(self):
            self.param.update(
                endpoints=endpoints_frame(endpoints),
                deliveries=deliveries_frame(page.deliveries, self.timezone),
                next_before=page.next_before,
                message="",
            )

    def older(self) -> None:
        """The next page of older deliveries (nothing when this is the oldest)."""
        if self.next_before is None:
            return
        with param.edit_constant(self):
            self.before = self.next_before
        self.refresh()

    def newest(self) -> None:
        with param.edit_constant(self):
            self.before = None
        self.refresh()

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
