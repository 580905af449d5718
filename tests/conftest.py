"""Suite-wide settings. CI sets NOTIFIER_REQUIRE_PG=1 so PostgreSQL tests can never be skipped silently."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("NOTIFIER_REQUIRE_PG") and not os.environ.get("NOTIFIER_TEST_PG_URL"):
        raise pytest.UsageError(
            "NOTIFIER_REQUIRE_PG is set but NOTIFIER_TEST_PG_URL is not: "
            "start PostgreSQL with `export NOTIFIER_TEST_PG_URL=$(bash tests/pg.sh)`."
        )
