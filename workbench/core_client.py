"""The workbench's client of the core API: staff login and the staff actions (CoreAPI).

The workbench never reads the OLTP database; it proves who a manager is by asking the core
(``POST /api/v1/auth/login``) and keeps the returned token for later actions, so the core
decides roles. The httpx transport is injectable for tests (``httpx.MockTransport``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import httpx

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/v1/auth/login"


class CoreUnavailable(Exception):
    """The core could not be reached or answered with an unexpected status."""


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """A staff member the core accepted, with the facility they belong to."""

    token: str
    role: str
    email: str
    facility_id: int
    facility_slug: str
    facility_name_ja: str
    facility_name_en: str

    def facility_name(self, lang: str) -> str:
        return self.facility_name_ja if lang == "ja" else self.facility_name_en

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> StaffIdentity:
        return cls(**json.loads(text))


async def login(
    core_url: str,
    facility: str,
    email: str,
    password: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> StaffIdentity | None:
    """Check staff credentials with the core; None when the core refuses them (401/403).

    Raises :class:`CoreUnavailable` when the core cannot answer, so the login page can
    say "try again" instead of "wrong password".
    """
    if not (facility and email and password):
        return None
    payload = {"facility": facility, "email": email, "password": password}
    try:
        async with httpx.AsyncClient(
            base_url=core_url, transport=transport, timeout=timeout
        ) as client:
            response = await client.post(LOGIN_PATH, json=payload)
    except httpx.HTTPError as exc:
        raise CoreUnavailable(str(exc)) from exc
    if response.status_code in (400, 401, 403, 404, 422):
        return None
    if response.status_code != 200:
        raise CoreUnavailable(f"core answered {response.status_code} to login")
    try:
        body = response.json()
        fac = body["facility"]
        return StaffIdentity(
            token=str(body["token"]),
            role=str(body["role"]),
            email=email,
            facility_id=int(fac["id"]),
            facility_slug=str(fac["slug"]),
            facility_name_ja=str(fac.get("name_ja", "")),
            facility_name_en=str(fac.get("name_en", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CoreUnavailable(f"unexpected login response: {exc}") from exc


class CoreRefused(Exception):
    """The core answered with a 4xx: not allowed (403), not found, or invalid input."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class CoreAPI:
    """The staff member's actions through the core API, with their own token.

    Synchronous on purpose: state classes call it from plain methods, and tests pass the
    core's ``litestar.testing.TestClient`` (an ``httpx.Client``) as ``http``, so the real
    core, its guards and its database answer without a server.
    """

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    def connect(cls, core_url: str, token: str, timeout: float = 15.0) -> CoreAPI:
        return cls(httpx.Client(base_url=core_url, timeout=timeout), token)

    def _call(self, method: str, path: str, **kwargs: object) -> object:
        try:
            response = self.http.request(method, path, headers=self._headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise CoreUnavailable(str(exc)) from exc
        if 400 <= response.status_code < 500:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = response.text[:200]
            raise CoreRefused(response.status_code, detail)
        if response.status_code >= 300:
            raise CoreUnavailable(f"core answered {response.status_code} to {path}")
        return response.json() if response.content else None

    # Each method names the route it uses; tests/test_roles_matrix.py lists the same.
    def devices(self) -> list[dict[str, object]]:
        return self._call("GET", "/api/v1/devices")  # type: ignore[return-value]

    def lookup_orders(self, query: str) -> list[dict[str, object]]:
        return self._call("GET", "/api/v1/orders/lookup", params={"q": query})  # type: ignore[return-value]

    def sales_report(self, day_from: object, day_to: object) -> dict[str, object]:
        params = {"from": str(day_from), "to": str(day_to)}
        return self._call("GET", "/api/v1/reports/sales", params=params)  # type: ignore[return-value]

    def send_mailing(
        self, composition: dict[str, str], customer_keys: list[str], segment: dict[str, object]
    ) -> dict[str, object]:
        body = {"composition": composition, "customer_keys": customer_keys, "segment": segment}
        return self._call("POST", "/api/v1/mailings", json=body)  # type: ignore[return-value]

    def send_test_mail(self, composition: dict[str, str], locale: str) -> dict[str, object]:
        body = {"composition": composition, "locale": locale}
        return self._call("POST", "/api/v1/mailings/test", json=body)  # type: ignore[return-value]

    def mailings(self) -> list[dict[str, object]]:
        return self._call("GET", "/api/v1/mailings")  # type: ignore[return-value]

    def facility_settings(self) -> dict[str, object]:
        return self._call("GET", "/api/v1/facility/settings")  # type: ignore[return-value]

    def update_facility_settings(self, changes: dict[str, object]) -> dict[str, object]:
        return self._call("PUT", "/api/v1/facility/settings", json=changes)  # type: ignore[return-value]
