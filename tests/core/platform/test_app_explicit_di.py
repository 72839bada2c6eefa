"""Every route handler declares its dependencies and parameters in Litestar's explicit style.

Litestar 2.23+ warns about handlers that leave it to infer what a parameter is (a
dependency, a path or query parameter, the body); Litestar 3 stops inferring. Building the
app with every built-in plugin's routes mounted under ``simplefilter("error")`` turns any
such handler, present or future, into a failing test instead of a line in a log.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.exceptions import LitestarDeprecationWarning
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.platform.settings import Settings
from core_service.plugins.host import DEFAULT_PLUGINS, PluginHost, build_plugin_manager
from core_service.plugins.values import hookimpl


def _settings(tmp_path: Path) -> Settings:
    # Building the app opens no database: the engine is made in the lifespan.
    return Settings(database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}", var_dir=tmp_path)


def test_building_the_app_with_every_builtin_plugin_warns_nothing(tmp_path: Path) -> None:
    host = PluginHost(build_plugin_manager())
    assert set(DEFAULT_PLUGINS) <= set(host.installed())
    plugin_paths = {path for handler in host.route_handlers() for path in handler.paths}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = create_app(_settings(tmp_path), plugin_host=host, background=False)
    # The plugins' own routes (webhooks, demo payment pages, Paidy's callback) were built too.
    assert plugin_paths and plugin_paths <= {route.path for route in app.routes}


def test_a_handler_in_the_inferred_style_fails_the_build(tmp_path: Path) -> None:
    """The check above can fail: one inferred dependency is enough."""

    @get("/inferred/{code:str}")
    async def inferred(code: str, db_session: AsyncSession) -> str:
        return code

    class InferredPlugin:
        @hookimpl
        def register_routes(self) -> list[Any]:
            return [inferred]

    host = PluginHost(build_plugin_manager(extra=[("inferred", InferredPlugin())]))
    with (
        warnings.catch_warnings(),
        pytest.raises(LitestarDeprecationWarning, match="Inferred dependency"),
    ):
        warnings.simplefilter("error")
        create_app(_settings(tmp_path), plugin_host=host, background=False)
