"""The workbench's client of the core API: staff login (and, later, the actions).

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
