"""What the tests share: app and shop builders, the browser launcher, live servers and
the local fakes of payment providers' APIs. Their fixtures are registered in
tests/conftest.py."""

from pathlib import Path

#: The repository's root folder (docs, notebooks, the packages).
REPO_ROOT = Path(__file__).resolve().parents[2]
