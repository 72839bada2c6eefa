"""OPTIONS on every route of the app answers without a server error.

The list of routes is read from the app's own route table, so a route added later is
covered without touching this test. Each is asked as a browser's CORS preflight would
(no credentials), and again with a device and a staff token: guards must not take a
preflight for a request they have to refuse, nor fail on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers

PREFLIGHT = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}


def _routes() -> list[HTTPRoute]:
    # Building the app opens no database (the engine is made in the lifespan).
    app = create_app(Settings(database_url="sqlite:///unused.sqlite3"), background=False)
    return [route for route in app.routes if isinstance(route, HTTPRoute)]


ROUTES = _routes()


def _path(route: HTTPRoute, slug: str) -> str:
    """The route's path with a plausible value for each parameter."""
    values: dict[str, Any] = {}
    for name, parameter in route.path_parameters.items():
        if parameter.type is int:
            values[name] = 1
        elif "slug" in name:
            values[name] = slug
        else:
            values[name] = "sample"
    return route.path_format.format(**values)


@pytest.fixture
async def served(
    sqlite_settings: Settings,
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], DemoFacility]]:
    demo = await seed_demo(sqlite_settings)
    async with AsyncTestClient(app=create_app(sqlite_settings, background=False)) as client:
        yield client, demo


def test_the_route_table_covers_guarded_and_open_routes() -> None:
    paths = {route.path for route in ROUTES}
    assert {"/api/v1/gate/scan", "/api/v1/kiosk/orders", "/api/v1/auth/login"} <= paths
    assert len(ROUTES) > 40


async def test_options_answers_every_route_with_its_allowed_methods(
    served: tuple[AsyncTestClient[Litestar], DemoFacility],
) -> None:
    """204 and an ``Allow`` of the route's methods (Litestar's answer), for every caller.

    Litestar 2.25 lists only the methods of the handlers registered before its OPTIONS
    handler was made (``/api/v1/devices`` says ``OPTIONS, POST``), hence the subset."""
    client, demo = served
    callers = {
        "preflight": PREFLIGHT,
        "device": {"Authorization": f"Bearer {demo.gate_token}"},
        "staff": await staff_headers(client, demo, "viewer"),
    }
    wrong = []
    for route in ROUTES:
        path = _path(route, demo.slug)
        for caller, headers in callers.items():
            response = await client.options(path, headers=headers)
            allowed = set(response.headers.get("allow", "").split(", "))
            if response.status_code != 204 or not {"OPTIONS"} < allowed <= set(route.methods):
                wrong.append((caller, path, response.status_code, sorted(allowed)))
    assert wrong == []
