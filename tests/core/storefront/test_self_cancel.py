"""Self-cancellation's own checks of the form, before the policy is consulted."""

from __future__ import annotations

from typing import Any, cast

import pytest

from core_service.platform.errors import InvalidInput
from core_service.storefront.mypage import MyPageSession
from core_service.storefront.self_cancel import cancel_mine, chosen_ticket_ids

NOTHING: Any = cast(Any, None)  # session, shop, order and settings are not reached


def test_the_ticked_tickets_are_read_as_ids() -> None:
    assert chosen_ticket_ids(["3", "5"]) == [3, 5]


def test_a_tampered_ticket_value_counts_as_nothing_chosen() -> None:
    assert chosen_ticket_ids(["3", "drop table"]) == []


async def test_cancelling_with_nothing_chosen_asks_to_choose() -> None:
    with pytest.raises(InvalidInput) as refused:
        await cancel_mine(
            NOTHING, NOTHING, MyPageSession(1, 2), NOTHING, [], "key", settings=NOTHING
        )
    assert refused.value.message("en") == "Choose the tickets to cancel."


async def test_cancelling_without_the_form_key_is_refused() -> None:
    with pytest.raises(InvalidInput):
        await cancel_mine(NOTHING, NOTHING, MyPageSession(1, 2), NOTHING, [3], "", settings=NOTHING)
