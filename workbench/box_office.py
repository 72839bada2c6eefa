"""Box-office state: cancel an order or some of its tickets, and look after refunds (F6, F7).

A ``param.Parameterized`` without Panel, driven by the operations page. The fee comes first:
``quote`` asks the core what the policy charges and refunds for the chosen tickets, and only
then may ``confirm`` cancel them. The quote carries a fresh idempotency key, so a double
click on "confirm" (or a retry after a timeout) is one cancellation and one refund.
Refunds the provider refused, and the automatic retries gave up on, are listed for staff
to send again. The core's guards decide who may do what; a refusal is shown, not raised.
"""

from __future__ import annotations

import uuid

import param

from kippu_contract.v1.staff import CancelIn, QuoteOut, RefundOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.i18n import t

#: Refund states staff should look at: the provider refused, or the money is owed in person.
NEEDS_STAFF = ("failed", "owed")


class BoxOfficeState(param.Parameterized):
    order_code = param.String(default="", doc="The order to cancel (from the lookup).")
    ticket_ids = param.List(default=[], item_type=int, doc="Tickets to cancel; none: all.")
    quote = param.ClassSelector(class_=QuoteOut, default=None, allow_None=True, constant=True)
    refunds = param.List(default=[], item_type=RefundOut, constant=True)
    refunds_allowed = param.Boolean(default=True, constant=True)
    message = param.String(default="", constant=True)
    lang = param.Selector(default="ja", objects=["ja", "en"], doc="Of the messages.")

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        self._key = ""
        super().__init__(**params)
        self.refresh_refunds()

    @param.depends("order_code", "ticket_ids", watch=True)
    def _forget_quote(self) -> None:
        # Another choice needs its own quote before anything can be cancelled.
        self._key = ""
        with param.edit_constant(self):
            self.quote = None

    def ask_quote(self) -> bool:
        code = self.order_code.strip()
        if not code:
            self._say(t(self.lang, "cancel_choose_order"))
            return False
        try:
            found = self._core.cancellation_quote(code, self.ticket_ids or None)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self._key = f"workbench-{uuid.uuid4()}"
        with param.edit_constant(self):
            self.param.update(quote=found, message="")
        return True

    def confirm(self) -> bool:
        """Cancel what was quoted, expecting exactly the quoted refund."""
        if self.quote is None or not self._key:
            self._say(t(self.lang, "cancel_quote_first"))
            return False
        change = CancelIn(
            ticket_ids=self.ticket_ids or None, refund_amount=self.quote.refund_amount
        )
        try:
            done = self._core.cancel_order(self.quote.order_code, change, self._key)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        refund = done.refund.state if done.refund else "-"
        self._say(
            t(self.lang, "cancel_done").format(
                code=done.order_code, refund=f"{done.refund_amount:,}", state=refund
            )
        )
        with param.edit_constant(self):
            self.quote = None
        self._key = ""
        self.refresh_refunds()
        return True

    def refresh_refunds(self) -> None:
        try:
            rows = [r for r in self._core.refunds() if r.state in NEEDS_STAFF]
        except CoreRefused:
            with param.edit_constant(self):
                self.param.update(refunds=[], refunds_allowed=False)
            return
        except CoreUnavailable as exc:
            self._say(str(exc))
            return
        with param.edit_constant(self):
            self.param.update(refunds=rows, refunds_allowed=True)

    def retry(self, refund_id: int) -> bool:
        try:
            refund = self._core.retry_refund(refund_id)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self._say(t(self.lang, "refund_retried").format(id=refund.id, state=refund.state))
        self.refresh_refunds()
        return refund.state not in NEEDS_STAFF

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
