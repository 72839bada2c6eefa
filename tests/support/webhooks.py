"""A real webhook receiver for the tests, and steps the webhook tests share.

:class:`Receiver` is an ``http.server`` on 127.0.0.1 with an ephemeral port, in a thread
of its own: the core's delivery POSTs to it over real TCP. It checks every request with
the contract's own helper (``kippu_contract.webhooks.verify``), records what came, and
answers with the status codes of its ``script`` in turn (then 200), optionally slowly.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import WebhookDelivery, WebhookEvent
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.webhooks.delivery import deliver_due
from kippu_contract.webhooks import (
    EVENT_TYPES,
    ORDER_PAID,
    TICKET_REDEEMED,
    InvalidSignature,
    verify,
)
from tests.support.aftersales import staff_headers
from tests.support.web import query


@dataclass(frozen=True, slots=True)
class Received:
    """One request that reached the receiver."""

    event_id: str
    type: str
    data: dict[str, Any]
    #: "" when the contract helper accepted it, else why it refused.
    refusal: str
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    #: Secrets the signature is checked against (set once the endpoint exists).
    secrets: list[str] = field(default_factory=list)
    #: Status codes to answer, in turn; 200 once they are used up.
    script: list[int] = field(default_factory=list)
    #: Seconds each answer takes.
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def accepted(self) -> list[Received]:
        """Requests answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def _answer(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            event = verify(self.secrets, body, headers)
            event_id, event_type, data, refusal = event.id, event.type, event.data, ""
        except InvalidSignature as exc:
            event_id, event_type, data, refusal = (
                headers.get("Kippu-Event-Id", ""),
                "",
                {},
                str(exc),
            )
        with self._lock:
            status = self.script.pop(0) if self.script else 200
            if refusal:
                status = 400
            self.received.append(
                Received(event_id, event_type, data, refusal, status, body, headers)
            )
        time.sleep(self.delay)
        return status

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._answer(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: shutdown() in stop() waits for the loop's next look (0.5 s by default).
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def running_receiver() -> Iterator[Receiver]:
    """A started receiver, stopped afterwards (the body of the ``receiver`` fixtures)."""
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def delivery_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` as a delivery worker on this machine uses them: the receiver is on
    loopback, and the tests do not wait half a minute for a retry."""
    values: dict[str, Any] = {
        "webhook_allow_private_targets": True,
        "webhook_retry_seconds": 0.2,
        "webhook_timeout_seconds": 5.0,
    }
    return dataclasses.replace(settings, **(values | overrides))


async def deliver(settings: Settings) -> int:
    """One ``deliver_due`` run with an engine of its own, as a worker process has."""
    engine = make_engine(settings)
    try:
        return await deliver_due(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


async def add_endpoint(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    url: str,
    events: tuple[str, ...] = EVENT_TYPES,
    *,
    role: str = "manager",
) -> tuple[int, str]:
    """Create an endpoint through the staff API; (its id, its secret)."""
    response = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": url, "events": list(events)},
        headers=await staff_headers(client, demo, role),
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    return answer["endpoint"]["id"], answer["secret"]


async def kiosk_order(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    kiosk_headers: dict[str, str],
    amount: int = 2000,
) -> Any:
    """The kiosk's request for one adult day ticket paid ``amount`` (its price: 2000)."""
    return await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "term-1", "amount": amount},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )


async def kiosk_sale(
    client: AsyncTestClient[Any], demo: DemoFacility, kiosk_headers: dict[str, str]
) -> dict[str, Any]:
    """One adult day ticket sold at the kiosk; the answer (order and tickets)."""
    response = await kiosk_order(client, demo, kiosk_headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def recorded_events(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every event written, in event order."""
    rows = await query(
        settings, sa.select(WebhookEvent.type, WebhookEvent.body).order_by(WebhookEvent.id)
    )
    return [(event_type, json.loads(body)["data"]) for event_type, body in rows]


async def delivery_states(settings: Settings) -> list[tuple[str, int]]:
    """(status, attempts) of every delivery, in id order."""
    rows = await query(
        settings,
        sa.select(WebhookDelivery.status, WebhookDelivery.attempts).order_by(WebhookDelivery.id),
    )
    return [(str(status), attempts) for status, attempts in rows]


@dataclass
class Hooked:
    """The demo park whose endpoint ``endpoint_id`` (order.paid and ticket.redeemed) is
    ``receiver``, which knows the endpoint's secret."""

    client: AsyncTestClient[Any]
    demo: DemoFacility
    db_settings: Settings
    kiosk_headers: dict[str, str]
    receiver: Receiver
    endpoint_id: int

    async def sale(self) -> dict[str, Any]:
        return await kiosk_sale(self.client, self.demo, self.kiosk_headers)

    async def sales(self, n: int) -> list[str]:
        """``n`` kiosk sales; their order codes."""
        return [(await self.sale())["order"]["code"] for _ in range(n)]

    def settings(self, **overrides: Any) -> Settings:
        return delivery_settings(self.db_settings, **overrides)

    async def deliver(self, **overrides: Any) -> int:
        return await deliver(self.settings(**overrides))

    async def subscribe(self, receiver: Receiver) -> int:
        """One more endpoint, on ``receiver``."""
        endpoint_id, secret = await add_endpoint(
            self.client, self.demo, receiver.url, (ORDER_PAID, TICKET_REDEEMED)
        )
        receiver.secrets.append(secret)
        return endpoint_id
