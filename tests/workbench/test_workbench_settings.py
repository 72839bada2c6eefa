"""The workbench's settings: the exports and the core's URL from the core's own variables,
its secret from its own, and nothing of the core's database or secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_service.platform.settings import Settings
from workbench.settings import WorkbenchSettings


def test_exports_and_core_url_come_from_the_variables_the_core_reads(tmp_path: Path) -> None:
    env = {
        "KIPPU_EXPORT_DIR": str(tmp_path / "parquet"),
        "KIPPU_BASE_URL": "http://core.internal:8000/",
        "KIPPU_WORKBENCH_REFRESH_SECONDS": "2.5",
    }

    settings = WorkbenchSettings.from_env(env)

    assert settings.export_dir == tmp_path / "parquet"
    assert settings.core_url == "http://core.internal:8000"
    assert settings.refresh_seconds == 2.5


def test_default_export_dir_is_the_one_the_core_writes(tmp_path: Path) -> None:
    env = {"KIPPU_VAR_DIR": str(tmp_path / "var")}

    assert WorkbenchSettings.from_env(env).export_dir == Settings.from_env(env).export_dir


def test_cookie_secret_derives_from_the_workbench_secret_only() -> None:
    core_secret = {"KIPPU_SECRET_KEY": "the core's secret"}
    mine = WorkbenchSettings.from_env({**core_secret, "KIPPU_WORKBENCH_SECRET_KEY": "mine"})
    default = WorkbenchSettings.from_env(core_secret)

    assert mine.cookie_secret != default.cookie_secret
    assert "mine" not in mine.cookie_secret
    assert default.uses_development_secret and not mine.uses_development_secret
    assert default.cookie_secret == WorkbenchSettings.from_env({}).cookie_secret


def test_a_refresh_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="REFRESH"):
        WorkbenchSettings.from_env({"KIPPU_WORKBENCH_REFRESH_SECONDS": "0"})
