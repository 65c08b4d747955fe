#!/usr/bin/env bash
# Every test. On SQLite always; again on PostgreSQL when TEST_DATABASE_URL is set.
# The PostgreSQL, Redis, localstripe and Chromium tiers skip with a printed reason when
# their service is missing, unless PORTAL_REQUIRE_ALL_TIERS=1 (CI), where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTEST="$VENV/bin/pytest"

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "== tests on SQLite (PostgreSQL-only tests run in the next pass)"
  TEST_DATABASE_URL= PORTAL_REQUIRE_ALL_TIERS= "$PYTEST" -q -m "not postgres and not browser and not redis" "$@"
  echo "== tests on PostgreSQL ($TEST_DATABASE_URL)"
  "$PYTEST" -q "$@"
else
  "$PYTEST" -q "$@"
fi
