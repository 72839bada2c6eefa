"""The gate service's own check, before any ticket is looked at."""

from __future__ import annotations

from typing import Any, cast

import pytest

from core_service.checkin.gate import scan_at_gate
from core_service.checkin.schemas import ScanIn
from core_service.platform.errors import InvalidInput


async def test_a_scan_in_an_unknown_direction_is_refused_before_the_ticket_is_read() -> None:
    # No session and no tenant: the refusal comes before either is used.
    with pytest.raises(InvalidInput):
        await scan_at_gate(
            cast(Any, None), cast(Any, None), 1, ScanIn(token="K1.x", direction="sideways")
        )
