"""Mailing state (F24): a segment with its live count and sample, a composition, sending.

A ``param.Parameterized`` without Panel. The segment is evaluated by DuckDB over the exports
(:mod:`workbench.data_segments`); sending hands only the matching pseudonymous keys and the
composition to the core (``POST /api/v1/mailings``), which resolves addresses, re-checks
consent, adds the unsubscribe link and queues the mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import param

from kippu_contract.v1.staff import CompositionIn
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import ExportSource
from workbench.data_segments import Segment

PLACEHOLDER_HELP = "{name} {facility} {visit_date} {unsubscribe_url}"
CHANNELS = ["", "web", "kiosk", "staff"]


class MailingState(param.Parameterized):
    facility_id = param.Integer(default=1, bounds=(1, None))

    # -- segment ---------------------------------------------------------------------
    everyone = param.Boolean(default=False, doc="Every customer (order conditions ignored).")
    purchase_completed = param.Boolean(default=True)
    purchased_from = param.CalendarDate(default=None, allow_None=True)
    purchased_to = param.CalendarDate(default=None, allow_None=True, doc="Inclusive.")
    purchased_hour_from = param.Integer(default=0, bounds=(0, 23), doc="Facility time.")
    purchased_hour_to = param.Integer(default=24, bounds=(1, 24), doc="Exclusive.")
    visit_date = param.CalendarDate(default=None, allow_None=True)
    product_id = param.Integer(default=None, allow_None=True)
    channel = param.Selector(default="", objects=CHANNELS)
    checked_in = param.Selector(default="any", objects=["any", "yes", "no"])
    annual_pass = param.Boolean(default=False)
    kind = param.Selector(default="marketing", objects=["marketing", "service"])

    count = param.Integer(default=0, constant=True, doc="Matching customers now.")
    sample = param.List(default=[], constant=True, doc="A few matching pseudonymous keys.")

    # -- composition -------------------------------------------------------------------
    subject_ja = param.String(default="")
    subject_en = param.String(default="")
    body_ja = param.String(default="")
    body_en = param.String(default="")

    message = param.String(default="", constant=True, doc="Outcome of the last action.")
    campaigns = param.List(
        default=[], constant=True, doc="Recent mailings and their status (MailingOut)."
    )

    def __init__(self, source: ExportSource, core: CoreAPI | None = None, **params: object) -> None:
        self._source = source
        self._core = core
        super().__init__(**params)
        self.recount()

    def segment(self) -> Segment:
        tz = self._source.timezone(self.facility_id)
        start = end = None
        if self.purchased_from is not None:
            start = _local(self.purchased_from, self.purchased_hour_from, tz)
        if self.purchased_to is not None:
            end = _local(self.purchased_to, self.purchased_hour_to, tz)
        return Segment(
            everyone=self.everyone,
            purchase_completed=self.purchase_completed,
            purchased_from=start,
            purchased_to=end,
            visit_date=self.visit_date,
            product_id=self.product_id,
            channel=self.channel or None,
            checked_in={"any": None, "yes": True, "no": False}[self.checked_in],
            annual_pass=self.annual_pass,
            pass_valid_on=self._source.today(self.facility_id) if self.annual_pass else None,
            marketing_only=self.kind == "marketing",
        )

    @param.depends(
        "facility_id",
        "everyone",
        "purchase_completed",
        "purchased_from",
        "purchased_to",
        "purchased_hour_from",
        "purchased_hour_to",
        "visit_date",
        "product_id",
        "channel",
        "checked_in",
        "annual_pass",
        "kind",
        watch=True,
    )
    def recount(self) -> None:
        """The live recipient count and sample; runs on every change of a condition."""
        self._source.refresh()
        segment = self.segment()
        with param.edit_constant(self):
            self.param.update(
                count=self._source.segment_count(self.facility_id, segment),
                sample=self._source.segment_sample(self.facility_id, segment),
            )

    def composition(self) -> CompositionIn:
        return CompositionIn(
            kind=self.kind,
            subject_ja=self.subject_ja,
            subject_en=self.subject_en,
            body_ja=self.body_ja,
            body_en=self.body_en,
        )

    def send_test(self, locale: str = "ja") -> bool:
        """Send the composition to the logged-in staff member's own address."""
        return self._act(
            lambda core: f"test → {core.send_test_mail(self.composition(), locale).to}"
        )

    def send(self) -> bool:
        """Hand the matching keys to the core; it queues one message per consenting customer."""
        segment = self.segment()
        keys = self._source.segment_keys(self.facility_id, segment)
        if not keys:
            self._say("no recipients")
            return False

        def go(core: CoreAPI) -> str:
            out = core.send_mailing(self.composition(), keys, segment.describe())
            return f"#{out.id} {out.status}: {out.recipients} (skipped {out.skipped})"

        ok = self._act(go)
        if ok:
            self.load_campaigns()
        return ok

    def load_campaigns(self) -> None:
        if self._core is None:
            return
        try:
            campaigns = self._core.mailings()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        with param.edit_constant(self):
            self.campaigns = campaigns

    def _act(self, action: Callable[[CoreAPI], str]) -> bool:
        if self._core is None:
            self._say("core not connected")
            return False
        try:
            self._say(action(self._core))
        except CoreRefused as exc:
            self._say(f"refused ({exc.status_code}): {exc.detail}")
            return False
        except CoreUnavailable as exc:
            self._say(f"core unavailable: {exc}")
            return False
        return True

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text


def _local(day: dt.date, hour: int, tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    start = dt.datetime.combine(day, dt.time(), ZoneInfo(tz)) + dt.timedelta(hours=hour)
    return start.astimezone(dt.UTC)
