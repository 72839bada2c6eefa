"""Plugin options as declared fields (issue 17.4): the settings API answers each plugin's
fields, refuses an option that is undeclared or does not fit (naming it, ja/en), keeps
secrets out of answers and the audit log, and audits each plugin's before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.models import AuditLog, FacilityPlugin
from core_service.platform.settings import Settings
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.plugins.values import OptionField, hookimpl
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.web import query

SETTINGS = "/api/v1/facility/settings"


class Keyed:
    """A plugin of the test's own with a secret and a choice."""

    @hookimpl
    def plugin_options(self) -> list[OptionField]:
        return [
            OptionField("api_key", "secret", "APIキー", "API key"),
            OptionField("mode", "choice", "モード", "Mode", "live", choices=("live", "test")),
        ]


@pytest.fixture
async def manager_client(
    db_settings: Settings,
) -> AsyncIterator[tuple[AsyncTestClient, dict[str, str]]]:
    demo = await seed_demo(db_settings)
    host = PluginHost(build_plugin_manager(extra=[("keyed", Keyed())]))
    async with AsyncTestClient(
        app=create_app(db_settings, plugin_host=host, background=False)
    ) as client:
        yield client, await staff_headers(client, demo, "manager")


def _plugin(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in body["plugins"] if p["name"] == name)


async def test_settings_answer_each_plugins_declared_fields(manager_client) -> None:  # noqa: ANN001
    client, manager = manager_client
    body = (await client.get(SETTINGS, headers=manager)).json()
    availability = _plugin(body, "availability")
    assert [(f["name"], f["kind"]) for f in availability["fields"]] == [
        ("few_left_ratio", "number"),
        ("few_left_count", "int"),
    ]
    assert availability["fields"][0]["maximum"] == 1
    assert _plugin(body, "keyed")["fields"][1]["choices"] == ["live", "test"]
    assert _plugin(body, "demo_payments")["fields"] == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"few_left_count": "ten"}, "few_left_count"),
        ({"few_left_count": 2.5}, "few_left_count"),
        ({"few_left_ratio": 3}, "few_left_ratio"),
        ({"few_left_ratio": True}, "few_left_ratio"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_an_option_that_does_not_fit_is_refused_by_name_and_nothing_is_stored(
    manager_client,
    db_settings: Settings,
    options: dict[str, Any],
    field: str,  # noqa: ANN001
) -> None:
    client, manager = manager_client
    before = await query(db_settings, sa.select(FacilityPlugin.name, FacilityPlugin.options))
    change = {
        "self_cancel": True,
        "plugins": [{"name": "availability", "enabled": True, "options": options}],
    }
    refused = await client.put(SETTINGS, json=change, headers={**manager, "Accept-Language": "ja"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field and refused.json()["plugin"] == "availability"
    assert refused.json()["code"] == "invalid_input"
    english = await client.put(SETTINGS, json=change, headers={**manager, "Accept-Language": "en"})
    assert field in english.json()["detail"]
    assert (
        await query(db_settings, sa.select(FacilityPlugin.name, FacilityPlugin.options)) == before
    )
    assert (await client.get(SETTINGS, headers=manager)).json()["self_cancel"] is False


async def test_options_that_fit_are_stored_and_audited_before_and_after(
    manager_client,
    db_settings: Settings,  # noqa: ANN001
) -> None:
    client, manager = manager_client
    change = {
        "plugins": [{"name": "availability", "enabled": True, "options": {"few_left_count": 3}}]
    }
    saved = await client.put(SETTINGS, json=change, headers=manager)
    assert saved.status_code == 200, saved.text
    assert _plugin(saved.json(), "availability")["options"] == {"few_left_count": 3}
    (data,) = await query(
        db_settings,
        sa.select(AuditLog.data).where(
            AuditLog.action == "plugin.update", AuditLog.subject == "availability"
        ),
    )
    assert data[0]["after"] == {"enabled": True, "options": {"few_left_count": 3}}
    assert data[0]["before"]["options"] != {"few_left_count": 3}


async def test_a_secret_is_never_answered_nor_audited_and_empty_keeps_it(
    manager_client,
    db_settings: Settings,  # noqa: ANN001
) -> None:
    client, manager = manager_client
    secret = "sk_live_very_secret"
    first = {
        "plugins": [
            {"name": "keyed", "enabled": True, "options": {"api_key": secret, "mode": "test"}}
        ]
    }
    saved = await client.put(SETTINGS, json=first, headers=manager)
    assert saved.status_code == 200, saved.text
    assert secret not in saved.text and _plugin(saved.json(), "keyed")["options"]["api_key"] == ""
    again = {
        "plugins": [{"name": "keyed", "enabled": True, "options": {"api_key": "", "mode": "live"}}]
    }
    assert (await client.put(SETTINGS, json=again, headers=manager)).status_code == 200
    (stored,) = await query(
        db_settings, sa.select(FacilityPlugin.options).where(FacilityPlugin.name == "keyed")
    )
    assert stored[0] == {"api_key": secret, "mode": "live"}
    audit = await query(db_settings, sa.select(AuditLog.data))
    assert secret not in str(audit) and "***" in str(audit)
