"""What a credentials body may contain, checked before anything is sealed or stored."""

from __future__ import annotations

from typing import Any

import pytest

from core_service.payments.credentials_entry import (
    MAX_FIELDS,
    MAX_VALUE_LENGTH,
    checked_values,
    installed_provider_names,
)
from core_service.platform.errors import InvalidInput
from core_service.plugins.host import PluginHost, build_plugin_manager


def test_text_fields_are_accepted_as_they_are() -> None:
    assert checked_values({"secret_key": "sk_test_1"}) == {"secret_key": "sk_test_1"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        ["secret_key"],
        {"secret_key": ""},
        {"secret_key": 12},
        {"": "x"},
        {"secret_key": "x" * (MAX_VALUE_LENGTH + 1)},
        {f"f{i}": "x" for i in range(MAX_FIELDS + 1)},
    ],
)
def test_a_body_that_is_not_an_object_of_short_text_fields_is_refused(body: Any) -> None:
    with pytest.raises(InvalidInput):
        checked_values(body)


def test_providers_are_named_by_provider_not_by_plugin() -> None:
    names = installed_provider_names(PluginHost(build_plugin_manager()))
    assert {"demo", "stripe", "paypay", "paidy"} <= set(names)
    assert "stripe_payments" not in names


def test_declared_fields_are_masked_exactly_when_they_are_secret() -> None:
    """What a provider calls public is what the masked view shows in full, and only that."""
    from core_service.payments.credentials import PUBLIC_FIELDS
    from core_service.payments.credentials_entry import installed_providers

    providers = installed_providers(PluginHost(build_plugin_manager()))
    assert all(providers[name] for name in ("demo", "stripe", "paypay", "paidy"))
    for name, fields in providers.items():
        for field in fields:
            assert field.secret == (field.name not in PUBLIC_FIELDS), (name, field.name)
            assert field.label_ja and field.label_en and field.label_ja != field.label_en
