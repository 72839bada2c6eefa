"""Platform operators in tests: one made in the database, logged in through the API."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from core_service.accounts.operators import add_operator
from core_service.platform.settings import Settings
from tests.support.web import run_in_session

OPERATOR_EMAIL = "ops@platform.example"
OPERATOR_PASSWORD = "operator-pass-1"

#: A new facility as an operator would send it (the owner's password chosen).
NEW_FACILITY: dict[str, Any] = {
    "slug": "new-aquarium",
    "name_ja": "新しい水族館",
    "name_en": "New Aquarium",
    "contact_email": "info@aquarium.example",
    "owner_email": "boss@aquarium.example",
    "owner_password": "owner-pass-1",
}


async def make_operator(
    settings: Settings, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD
) -> None:
    async def work(session: Any) -> None:
        await add_operator(session, email, password)

    await run_in_session(settings, work)


async def operator_headers(
    client: AsyncTestClient[Any], email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/platform/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
