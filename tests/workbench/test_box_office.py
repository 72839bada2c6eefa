"""The workbench's box office (F6, F7) against the real core: the fee is quoted before
anything is cancelled, a double confirm cancels and refunds once, failed refunds are
listed and can be sent again, and roles below staff cannot cancel."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from core_service.models import Cancellation, Order, Refund, Ticket
from core_service.payments.provider import ProviderUnavailable
from core_service.platform.settings import Settings
from kippu_plugins.demo_payments import DemoProvider
from tests.conftest import seed_demo
from tests.support.web import query
from tests.support.workbench import Builder, FacilityRef, core_api
from workbench.box_office import BoxOfficeState

DAY = dt.date.today() + dt.timedelta(days=10)


@pytest.fixture
def paid_order(db_settings: Settings) -> Iterator[tuple[Settings, str, list[int]]]:
    """The demo park with one paid order of two tickets ten days ahead."""
    demo = asyncio.run(seed_demo(db_settings))
    b = Builder(db_settings)
    park = FacilityRef(demo.facility_id)
    tickets = b.order(park, b.product(park), DAY, quantity=2)  # type: ignore[arg-type]
    b.pay(tickets[0], "card", 3600)
    b.close()
    order_id = tickets[0].order_id
    code = asyncio.run(query(db_settings, sa.select(Order.code).where(Order.id == order_id)))[0][0]
    ids = [
        r[0]
        for r in asyncio.run(
            query(
                db_settings,
                sa.select(Ticket.id).where(Ticket.order_id == order_id).order_by(Ticket.id),
            )
        )
    ]
    yield db_settings, code, ids


def test_staff_see_the_fee_first_and_a_double_confirm_cancels_once(
    paid_order: tuple[Settings, str, list[int]],
) -> None:
    settings, code, ticket_ids = paid_order
    with core_api(settings, "staff") as core:
        box = BoxOfficeState(core, lang="en")
        assert box.confirm() is False and box.message == "Show the fee first."
        box.order_code = code
        box.ticket_ids = [ticket_ids[0]]
        assert box.ask_quote()
        assert box.quote is not None and [q.ticket_id for q in box.quote.tickets] == [ticket_ids[0]]
        quoted = box.quote.refund_amount
        key = box._key
        assert box.confirm() and f"Order {code} cancelled" in box.message
        assert box.quote is None  # used up: a second confirm needs a new quote
        assert box.confirm() is False
        # A retried request with the quote's key (the browser timed out) is the same one.
        from kippu_contract.v1.staff import CancelIn

        again = core.cancel_order(code, CancelIn(ticket_ids=[ticket_ids[0]]), key)
        assert again.replayed and again.refund_amount == quoted
    cancellations = asyncio.run(query(settings, sa.select(Cancellation.id)))
    refunds = asyncio.run(query(settings, sa.select(Refund.state, Refund.amount)))
    assert len(cancellations) == 1 and refunds == [("refunded", quoted)]
    states = asyncio.run(
        query(
            settings, sa.select(Ticket.status).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)
        )
    )
    assert [s[0] for s in states] == ["cancelled", "valid"]


def test_changing_the_choice_drops_the_quote(paid_order: tuple[Settings, str, list[int]]) -> None:
    settings, code, ticket_ids = paid_order
    with core_api(settings, "staff") as core:
        box = BoxOfficeState(core, order_code=code)
        assert box.ask_quote() and box.quote is not None
        box.ticket_ids = [ticket_ids[1]]
        assert box.quote is None and box.confirm() is False
    assert asyncio.run(query(settings, sa.select(Cancellation.id))) == []


def test_a_failed_refund_is_listed_and_sent_again(
    paid_order: tuple[Settings, str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, code, _ids = paid_order
    original = DemoProvider.refund

    async def down(self: DemoProvider, *args: Any, **kwargs: Any) -> Any:
        raise ProviderUnavailable()

    monkeypatch.setattr(DemoProvider, "refund", down)
    with core_api(settings, "staff") as core:
        box = BoxOfficeState(core, order_code=code, lang="en")
        assert box.ask_quote() and box.confirm()
        [failed] = box.refunds
        assert failed.state == "failed" and failed.order_code == code
        monkeypatch.setattr(DemoProvider, "refund", original)
        assert box.retry(failed.id)
        assert box.refunds == [] and "refunded" in box.message


@pytest.mark.parametrize("role", ["viewer"])
def test_a_viewer_can_neither_quote_nor_cancel(
    paid_order: tuple[Settings, str, list[int]], role: str
) -> None:
    settings, code, _ids = paid_order
    with core_api(settings, role) as core:
        box = BoxOfficeState(core, order_code=code)
        assert box.refunds_allowed is False
        assert box.ask_quote() is False and box.message
    assert asyncio.run(query(settings, sa.select(Cancellation.id))) == []
