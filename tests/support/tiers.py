"""Test tiers that need a real service. Locally a missing service skips with its reason;
in CI (`PORTAL_REQUIRE_ALL_TIERS=1`) it fails instead, so no tier can silently vanish."""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str):
    if os.environ.get("PORTAL_REQUIRE_ALL_TIERS") == "1":
        pytest.fail(f"required test tier unavailable: {reason}")
    pytest.skip(reason)


def database_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None
