"""Local fakes of the payment providers' APIs, for contract tests only (not the product).

Each fake is a small plain-ASGI app implementing the documented subset kippu uses. It
*checks* what kippu sends (paths, authentication headers and signatures, idempotency
keys, JSON/form bodies, integer yen) and records every request; a request that breaks the
contract gets a 4xx with ``{"fake_error": ...}`` and is listed in ``violations``, which
tests assert to be empty. Failures are scripted with ``fail_next`` ("500" or "timeout").

:class:`LoopbackServer` runs a fake with uvicorn on a free 127.0.0.1 port in a thread,
so adapters are exercised over real HTTP (timeouts included).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

#: How long a scripted "timeout" keeps kippu waiting (tests set a shorter client timeout).
STALL_SECONDS = 2.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


class ContractViolation(Exception):
    """kippu sent something the real provider would refuse."""


@dataclass
class FakeAPI:
    """Shared plumbing: recording, scripted failures, and the ASGI entry point."""

    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_next: deque[str] = field(default_factory=deque)

    async def handle(self, request: Recorded) -> tuple[int, Any]:  # pragma: no cover
        raise NotImplementedError

    def requests_to(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict]],
        send: Callable[[dict], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = scope["query_string"].decode()
        path = scope["path"] + (f"?{query}" if query else "")
        request = Recorded(scope["method"], path, headers, body)
        self.requests.append(request)
        if self.fail_next:
            failure = self.fail_next.popleft()
            if failure == "timeout":
                await asyncio.sleep(STALL_SECONDS)
            status, payload = 500, {"error": "scripted failure"}
        else:
            try:
                status, payload = await self.handle(request)
            except ContractViolation as exc:
                self.violations.append(f"{request.method} {request.path}: {exc}")
                status, payload = 400, {"fake_error": str(exc)}
        request.status = status
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


class LoopbackServer:
    """Serves an ASGI app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake provider did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
