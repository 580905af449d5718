"""Suite-wide settings. CI sets NOTIFIER_REQUIRE_PG=1 so PostgreSQL tests can never be skipped silently,
and NOTIFIER_REQUIRE_BROWSER=1 so the headless-Chromium tests (tests/test_browser.py) cannot either."""

from __future__ import annotations

import importlib.util
import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("NOTIFIER_REQUIRE_PG") and not os.environ.get("NOTIFIER_TEST_PG_URL"):
        raise pytest.UsageError(
            "NOTIFIER_REQUIRE_PG is set but NOTIFIER_TEST_PG_URL is not: "
            "start PostgreSQL with `export NOTIFIER_TEST_PG_URL=$(bash tests/pg.sh)`."
        )


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium for Playwright ($NOTIFIER_CHROMIUM, default /usr/bin/chromium)."""
    path = os.environ.get("NOTIFIER_CHROMIUM", "/usr/bin/chromium")
    missing = [f"{path} (apt-get install chromium)"] if not os.access(path, os.X_OK) else []
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("NOTIFIER_REQUIRE_BROWSER"):
            pytest.fail(message + ", and NOTIFIER_REQUIRE_BROWSER is set")
        pytest.skip(message)
    return path
