"""The kiosk speaks the wire contract: the core's own structs, tolerant of added fields."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

import kiosk_driver
from kiosk_driver.core_client import CoreClient
from kiosk_driver.errors import ConfirmationPending, UnexpectedAnswer
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from kippu_contract.v1.kiosk import KioskOrderIn, OrderLineIn
from tests.support.kiosk import TOKEN, FakeCore, make_kiosk

WAIVER = {"waiver": True}


def _with_added_fields(value: Any) -> Any:
    """``value`` as a newer core might send it: every object has a field this kiosk lacks."""
    if isinstance(value, dict):
        return {
            "added_by_a_newer_core": {"x": 1},
            **{k: _with_added_fields(v) for k, v in value.items()},
        }
    if isinstance(value, list):
        return [_with_added_fields(item) for item in value]
    return value


class NewerCore(FakeCore):
    """The fake core, answering with added fields and without the optional ones."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = super().__call__(request)
        if not response.content:
            return response
        body = _with_added_fields(json.loads(response.content))
        for product in body.get("products", []):
            product.pop("marker", None)
        for ticket in body.get("tickets", []):
            for optional in ("book_id", "coupon_no", "coupon_count"):
                ticket.pop(optional)
        return httpx.Response(response.status_code, json=body)


def test_catalog_with_added_fields_and_no_marker_decodes() -> None:
    catalog = CoreClient("http://core.test", TOKEN, transport=NewerCore().transport()).catalog()
    assert [p.id for p in catalog.products] == [10, 20]
    assert catalog.products[0].marker is None
    assert catalog.checkout_fields[0].name == "waiver"


def test_order_answer_with_added_fields_and_no_coupon_fields_prints(tmp_path: Path) -> None:
    kiosk = make_kiosk(NewerCore(), tmp_path)
    result = kiosk.sell([OrderLineIn(100, 2)], "card", WAIVER)
    assert result.printed and [t.coupon_no for t in result.confirmation.tickets] == [0, 0]
    for ticket in result.confirmation.tickets:
        assert ticket.qr_token.encode() in kiosk.printer.output


def test_enrol_answer_with_added_fields_decodes() -> None:
    client = CoreClient("http://core.test", transport=NewerCore().transport())
    enrolment = client.enrol("ENROL-1")
    assert client.token == TOKEN and enrolment.device["id"] == 7


def test_order_request_decodes_with_the_cores_strict_struct(tmp_path: Path) -> None:
    core = FakeCore()
    make_kiosk(core, tmp_path).sell([OrderLineIn(100, 1)], "qr", WAIVER, "en")
    [call] = core.order_calls()
    order = msgspec.json.decode(call.content, type=KioskOrderIn)  # forbids unknown fields
    assert (order.payment.method, order.payment.amount, order.locale) == ("qr", 1800, "en")
    assert order.answers == WAIVER


def test_answer_outside_the_contract_keeps_the_paid_sale_for_resume(tmp_path: Path) -> None:
    """A core that answers in another shape created the order: never void the payment."""

    broken = True

    def answer(request: httpx.Request) -> httpx.Response:
        response = core(request)
        if broken and request.url.path.endswith("/orders") and response.is_success:
            return httpx.Response(response.status_code, json={"order": {"code": 1}})
        return response

    core, terminal = FakeCore(), SimulatedTerminal()
    kiosk = make_kiosk(core, tmp_path, terminal=terminal)
    kiosk.core = CoreClient("http://core.test", TOKEN, transport=httpx.MockTransport(answer))
    with pytest.raises(ConfirmationPending) as excinfo:
        kiosk.sell([OrderLineIn(100, 1)], "card", WAIVER)
    assert kiosk.journal.get(excinfo.value.sale_id).state == SaleState.PAID
    assert terminal.voided == [] and len(core.orders) == 1
    broken = False
    assert kiosk.resume().printed == [excinfo.value.sale_id]  # the same order, replayed
    assert len(core.orders) == 1


def test_unexpected_answer_is_an_unreachable_core() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"products": 3}))
    with pytest.raises(UnexpectedAnswer):
        CoreClient("http://core.test", TOKEN, transport=transport).catalog()


def test_the_driver_defines_no_wire_structs_of_its_own() -> None:
    """The shapes the core sends and receives live in kippu_contract only."""
    package = Path(kiosk_driver.__file__).parent
    copies = []
    for path in package.rglob("*.py"):
        module_name = "kiosk_driver." + ".".join(path.relative_to(package).with_suffix("").parts)
        module = __import__(module_name.removesuffix(".__init__"), fromlist=["_"])
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, msgspec.Struct)
                and value.__module__ == module.__name__
            ):
                copies.append(f"{module.__name__}.{name}")
    assert copies == []
