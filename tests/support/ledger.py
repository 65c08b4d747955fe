"""The ledger's invariants, asserted after a test's money moved."""

from __future__ import annotations

from portal.books.checks import check_invariants


def assert_ledger_ok() -> None:
    drifts = check_invariants()
    assert drifts == [], [str(d) for d in drifts]
