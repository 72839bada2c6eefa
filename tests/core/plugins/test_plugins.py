"""The plugin system: every hook documented and tested, enablement per facility."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from core_service.plugins import hookspecs
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.plugins.values import FacilityContext, OptionField, hookimpl
from tests.support import REPO_ROOT

ROOT = REPO_ROOT
HOOK_NAMES = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "kippu_spec")
)
FACILITY = FacilityContext(1, "park", "公園", "Park", "Asia/Tokyo")


def test_every_hook_is_documented_in_docs_plugins() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)`", docs, flags=re.MULTILINE))
    assert set(HOOK_NAMES) == documented


def test_every_hook_has_a_test_named_after_it() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [name for name in HOOK_NAMES if f"def test_hook_{name}" not in source]
    assert untested == []


def test_every_hookspec_has_a_docstring() -> None:
    for name in HOOK_NAMES:
        assert inspect.getdoc(getattr(hookspecs, name)), name


def test_misspelt_hook_name_fails_at_start() -> None:
    class Misspelt:
        @hookimpl
        def ordr_paid(self, facility: Any, order: Any) -> None: ...

    with pytest.raises(pluggy.PluginValidationError):
        build_plugin_manager(extra=[("misspelt", Misspelt())])


def test_builtin_plugins_are_installed_through_entry_points_or_defaults() -> None:
    host = PluginHost(build_plugin_manager())
    assert {"consent", "availability", "demo_payments"} <= set(host.installed())


def test_installed_is_not_enabled() -> None:
    host = PluginHost(build_plugin_manager())
    nothing = host.for_facility(FACILITY, enabled=[])
    assert nothing.checkout_fields("web") == []
    assert nothing.availability_marker(0, 10) is None
    assert nothing.payment_provider_classes() == []


class Recorder:
    """A temporary plugin that records the notifications it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def order_paid(self, facility: FacilityContext, order: Any) -> None:
        self.calls.append(("order_paid", order))

    @hookimpl
    async def ticket_redeemed(self, redemption: Any) -> None:  # async and a subset of args
        self.calls.append(("ticket_redeemed", redemption))


@pytest.fixture
def recorder() -> Iterator[tuple[PluginHost, Recorder]]:
    pm = build_plugin_manager()
    plugin = Recorder()
    pm.register(plugin, name="recorder")
    try:
        yield PluginHost(pm), plugin
    finally:
        pm.unregister(plugin)


def test_hook_checkout_fields() -> None:
    plugins = PluginHost(build_plugin_manager()).for_facility(
        FacilityContext(
            1, "p", "公園", "Park", "Asia/Tokyo", {"consent": {"text_en": "Ride at own risk."}}
        ),
        enabled=["consent"],
    )
    (field,) = plugins.checkout_fields("kiosk")
    assert (field.name, field.required, field.is_consent) == ("consent_waiver", True, True)
    assert field.text("en") == "Ride at own risk."


def test_hook_validate_checkout() -> None:
    plugins = PluginHost(build_plugin_manager()).for_facility(FACILITY, enabled=["consent"])
    (error,) = plugins.validate_checkout("web", {})
    assert error.field == "consent_waiver" and error.message("ja")
    assert plugins.validate_checkout("web", {"consent_waiver": True}) == []


@pytest.mark.parametrize(
    ("remaining", "capacity", "symbol"),
    [(100, 100, "〇"), (10, 100, "△"), (0, 100, "×"), (None, None, "〇")],
)
def test_hook_availability_marker(remaining: int | None, capacity: int | None, symbol: str) -> None:
    plugins = PluginHost(build_plugin_manager()).for_facility(FACILITY, enabled=["availability"])
    marker = plugins.availability_marker(remaining, capacity)
    assert marker is not None and marker.symbol == symbol


def test_hook_plugin_options() -> None:
    """Installed plugins declare the options they read, enabled or not; a plugin of its
    own declares its fields, and a value that does not fit one is named with the reason."""

    class Options:
        @hookimpl
        def plugin_options(self) -> list[OptionField]:
            return [OptionField("mode", "choice", "モード", "Mode", "a", choices=("a", "b"))]

    host = PluginHost(build_plugin_manager(extra=[("with_options", Options())]))
    declared = host.option_fields()
    assert [f.name for f in declared["availability"]] == ["few_left_ratio", "few_left_count"]
    assert [f.name for f in declared["consent"]] == ["label_ja", "label_en", "text_ja", "text_en"]
    assert "demo_payments" not in declared  # it reads no options
    (mode,) = declared["with_options"]
    assert mode.problem("b") is None
    en, ja = mode.problem("c") or ("", "")
    assert "one of a, b" in en and "モード" in ja


def test_hook_register_payment_providers() -> None:
    plugins = PluginHost(build_plugin_manager()).for_facility(FACILITY, enabled=["demo_payments"])
    (provider,) = plugins.payment_provider_classes()
    assert provider.name == "demo" and "card" in provider.methods


def test_hook_register_routes(sqlite_settings: Settings) -> None:
    @get("/plugin-hello", sync_to_thread=False)
    def hello() -> str:
        return "hello from a plugin"

    class RoutePlugin:
        @hookimpl
        def register_routes(self) -> list[Any]:
            return [hello]

    host = PluginHost(build_plugin_manager(extra=[("route_plugin", RoutePlugin())]))
    app = create_app(sqlite_settings, plugin_host=host, background=False)
    assert "/plugin-hello" in {route.path for route in app.routes}


async def test_hook_order_paid(
    recorder: tuple[PluginHost, Recorder],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict,
) -> None:
    host, plugin = recorder
    async with AsyncTestClient(
        create_app(db_settings, plugin_host=host, background=False)
    ) as client:
        await _kiosk_sale(client, demo, kiosk_headers, enable_recorder=True, settings=db_settings)
    (call,) = [c for c in plugin.calls if c[0] == "order_paid"]
    assert call[1].channel == "kiosk" and len(call[1].ticket_ids) == 1


async def test_hook_ticket_redeemed(
    recorder: tuple[PluginHost, Recorder],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict,
    gate_headers: dict,
) -> None:
    host, plugin = recorder
    async with AsyncTestClient(
        create_app(db_settings, plugin_host=host, background=False)
    ) as client:
        token = await _kiosk_sale(
            client, demo, kiosk_headers, enable_recorder=True, settings=db_settings
        )
        for _ in range(2):  # the second scan is refused and must not notify
            await client.post("/api/v1/gate/scan", json={"token": token}, headers=gate_headers)
    redeemed = [c[1] for c in plugin.calls if c[0] == "ticket_redeemed"]
    assert len(redeemed) == 1 and redeemed[0].direction == "entry"


async def test_disabled_plugin_is_not_called(
    recorder: tuple[PluginHost, Recorder],
    db_settings: Settings,
    demo: DemoFacility,
    kiosk_headers: dict,
) -> None:
    host, plugin = recorder
    async with AsyncTestClient(
        create_app(db_settings, plugin_host=host, background=False)
    ) as client:
        await _kiosk_sale(client, demo, kiosk_headers, enable_recorder=False, settings=db_settings)
    assert plugin.calls == []


async def _kiosk_sale(
    client: AsyncTestClient,
    demo: DemoFacility,
    headers: dict,
    *,
    enable_recorder: bool,
    settings: Settings,
) -> str:
    from core_service.facilities.setup import set_plugin
    from core_service.platform.database import make_engine, make_sessionmaker

    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        await set_plugin(session, demo.facility_id, "recorder", enabled=enable_recorder)
        await session.commit()
    await engine.dispose()
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "r", "amount": 2000},
        },
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()["tickets"][0]["qr_token"]
