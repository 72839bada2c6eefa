"""Consent / waiver plugin (F14): an opt-in checkbox the visitor must tick to buy.

Options (per facility): ``label_ja``, ``label_en`` (the checkbox label) and ``text_ja``,
``text_en`` (the full waiver shown above it and recorded with the order).
"""

from __future__ import annotations

from typing import Any

from core_service.plugin_api import (
    CheckoutField,
    FacilityContext,
    FieldError,
    OptionField,
    hookimpl,
)

PLUGIN_NAME = "consent"
FIELD_NAME = "consent_waiver"

DEFAULT_LABEL_JA = "注意事項・同意書の内容を確認し、同意します"
DEFAULT_LABEL_EN = "I have read and agree to the terms and waiver"
DEFAULT_TEXT_JA = "施設内での怪我について、施設の過失による場合を除き、施設は責任を負いません。"
DEFAULT_TEXT_EN = (
    "The facility is not liable for injuries on its premises except where caused by its "
    "own negligence."
)


def _field(facility: FacilityContext) -> CheckoutField:
    options = facility.options(PLUGIN_NAME)
    return CheckoutField(
        name=FIELD_NAME,
        kind="checkbox",
        label_ja=options.get("label_ja", DEFAULT_LABEL_JA),
        label_en=options.get("label_en", DEFAULT_LABEL_EN),
        text_ja=options.get("text_ja", DEFAULT_TEXT_JA),
        text_en=options.get("text_en", DEFAULT_TEXT_EN),
        required=True,
        is_consent=True,
        plugin=PLUGIN_NAME,
    )


@hookimpl
def plugin_options() -> list[OptionField]:
    return [
        OptionField(
            "label_ja",
            "text",
            "チェック欄の文言 (日本語)",
            "Checkbox label (Japanese)",
            DEFAULT_LABEL_JA,
        ),
        OptionField(
            "label_en",
            "text",
            "チェック欄の文言 (英語)",
            "Checkbox label (English)",
            DEFAULT_LABEL_EN,
        ),
        OptionField(
            "text_ja", "text", "同意書の本文 (日本語)", "Waiver text (Japanese)", DEFAULT_TEXT_JA
        ),
        OptionField(
            "text_en", "text", "同意書の本文 (英語)", "Waiver text (English)", DEFAULT_TEXT_EN
        ),
    ]


@hookimpl
def checkout_fields(facility: FacilityContext, channel: str) -> list[CheckoutField]:
    return [_field(facility)]


@hookimpl
def validate_checkout(
    facility: FacilityContext, channel: str, answers: dict[str, Any]
) -> list[FieldError]:
    if answers.get(FIELD_NAME) is True:
        return []
    return [
        FieldError(
            field=FIELD_NAME,
            message_ja="購入するには同意が必要です。",
            message_en="You must agree before you can buy.",
        )
    ]
