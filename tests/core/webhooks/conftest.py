"""Fixtures of the webhook tests: real receivers on loopback, and the demo park with an
endpoint on one of them (``Hooked``; both in tests/support/webhooks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from tests.support.webhooks import Hooked, Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
async def hooked(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
    receiver: Receiver,
) -> Hooked:
    hooked = Hooked(client, demo, db_settings, kiosk_headers, receiver, 0)
    hooked.endpoint_id = await hooked.subscribe(receiver)
    return hooked
