"""notebooks/attendance.ipynb runs top to bottom over exports made in the test."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import nbformat
import pytest
from nbclient import NotebookClient

from core_service.exports import run_export
from core_service.platform.settings import Settings
from tests.support import REPO_ROOT
from tests.support.workbench import Builder, at

NOTEBOOK = REPO_ROOT / "notebooks" / "attendance.ipynb"
DAY = dt.date(2026, 11, 25)


@pytest.fixture
def exported(sqlite_settings: Settings) -> Iterator[tuple[Settings, int]]:
    """Facility 2 (the one the notebook is pointed at) has 2 visitors of 3 valid tickets."""
    b = Builder(sqlite_settings)
    try:
        other, park = b.facility("other"), b.facility("park")
        for ticket in b.order(other, b.product(other), DAY, quantity=4):
            b.scan(ticket, at(DAY, 9))
        tickets = b.order(park, b.product(park), DAY, quantity=3)
        b.scan(tickets[0], at(DAY, 10, 15))
        b.scan(tickets[1], at(DAY, 14, 45))
        run_export(sqlite_settings)
        yield sqlite_settings, park.id
    finally:
        b.close()


def _outputs(nb: nbformat.NotebookNode) -> str:
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.slow
def test_notebook_shows_admitted_count_and_hourly_chart(
    exported: tuple[Settings, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, facility_id = exported
    monkeypatch.setenv("KIPPU_EXPORT_DIR", str(settings.export_dir))
    monkeypatch.setenv("KIPPU_FACILITY_ID", str(facility_id))
    monkeypatch.setenv("KIPPU_DATE", DAY.isoformat())
    # The kernel is a child process: it must find the repo's packages.
    root = str(NOTEBOOK.parent.parent)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()

    text = _outputs(nb)
    assert "admitted: 2" in text
    assert "visit rate: 66.7%" in text
    assert ":Bars" in text  # the per-hour chart's repr
