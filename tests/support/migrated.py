"""A migrated SQLite database for any test, copied from one template per test process.

Running the migrations takes about a second; copying their result takes a millisecond.
The template is built the first time a test asks for it (in each xdist worker) and
removed when the process ends.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from core_service.platform.database import upgrade_database
from core_service.platform.settings import Settings


@functools.cache
def sqlite_template() -> Path:
    """The SQLite file the migrations produced, built once per process."""
    directory = Path(tempfile.mkdtemp(prefix="kippu-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "template.sqlite3"
    upgrade_database(Settings(database_url=f"sqlite:///{path}", var_dir=directory))
    return path


def migrated_sqlite(path: Path) -> str:
    """Put a copy of the migrated template at ``path``; its database URL."""
    shutil.copyfile(sqlite_template(), path)
    return f"sqlite:///{path}"
