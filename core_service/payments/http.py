"""One way for provider adapters to call a payment provider's HTTP API.

Every adapter talks httpx through :class:`ProviderHTTP`, which adds what each of them
would otherwise repeat: a timeout, an injectable transport (tests put a fake there),
and retries of timeouts, connection errors and 5xx answers *with the very same request*
(same body, same idempotency key), so that a retry can never charge twice. When the
retries are used up it raises :class:`ProviderUnavailable`, whose bilingual message the
visitor sees. 4xx answers are returned for the adapter to interpret (a decline is not an
outage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from core_service.payments.provider import ProviderUnavailable

log = logging.getLogger(__name__)

#: Seconds to wait for a provider: long enough for a card network, short enough that a
#: visitor is not left staring at a spinner.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
DEFAULT_RETRIES = 2
#: Pause before retry n is ``RETRY_BACKOFF * n`` seconds.
RETRY_BACKOFF = 0.2

#: Builds the headers of one attempt from (method, path, body); called again for every
#: retry because some schemes sign a nonce and the time (PayPay's OPA-Auth).
HeaderBuilder = Callable[[str, str, bytes], Mapping[str, str]]


class ProviderHTTP:
    """A small client for one provider API (one base URL, one way to authenticate)."""

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        headers: HeaderBuilder,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        retries: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.provider = provider
        self._headers = headers
        self._transport = transport
        # Read at call time, not bound at import, so a deployment (or a test) can tune them.
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._retries = retries if retries is not None else DEFAULT_RETRIES

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes = b"",
        extra_headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one request; retry the identical request on timeouts and 5xx.

        ``retry=False`` is for calls that are neither reads nor protected by an
        idempotency key: a timeout then raises at once instead of risking a repeat.
        """
        attempts = 1 + (self._retries if retry else 0)
        problem = ""
        async with httpx.AsyncClient(
            base_url=self.base_url, transport=self._transport, timeout=self._timeout
        ) as client:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(RETRY_BACKOFF * attempt)
                headers = dict(self._headers(method, path, content))
                if extra_headers:
                    headers.update(extra_headers)
                try:
                    response = await client.request(
                        method, path, content=content or None, headers=headers
                    )
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "%s %s %s failed (attempt %d): %s",
                        self.provider,
                        method,
                        path,
                        attempt + 1,
                        problem,
                    )
                    continue
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    log.warning(
                        "%s %s %s answered %d (attempt %d)",
                        self.provider,
                        method,
                        path,
                        response.status_code,
                        attempt + 1,
                    )
                    continue
                return response
        raise ProviderUnavailable(provider=self.provider, problem=problem)


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a response, or {} when the body is not JSON."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
