"""What a job runs with: settings, the database engine, the plugin host and the signer.

A core process hands its own (the app state's) to the in-process runner; ``kippu worker``
opens its own with :func:`open_resources`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.plugins.host import PluginHost, build_plugin_manager


@dataclass(frozen=True, slots=True)
class JobResources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    plugin_host: PluginHost
    signer: Signer

    @classmethod
    def from_state(cls, state: Any) -> JobResources:
        """The resources of a running core app (``app.state``)."""
        return cls(
            settings=state.settings,
            engine=state.engine,
            sessionmaker=state.sessionmaker,
            plugin_host=state.plugin_host,
            signer=state.signer,
        )


@contextlib.asynccontextmanager
async def open_resources(
    settings: Settings, *, plugin_host: PluginHost | None = None
) -> AsyncIterator[JobResources]:
    """A worker's own engine and plugin host, disposed of on exit."""
    engine = make_engine(settings)
    try:
        yield JobResources(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            plugin_host=plugin_host or PluginHost(build_plugin_manager()),
            signer=Signer(settings.secret_key),
        )
    finally:
        await engine.dispose()
