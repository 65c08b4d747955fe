"""`flask ledger check`: silent success, and a named drift for every broken invariant."""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.wallets.adjustments import credit_wallet
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.payout_funds import reserve_payout


@pytest.fixture
def busy_wallet(tutor):
    process_lesson_earning(tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="e1")
    credit_wallet(tutor_id=tutor.id, amount=2000, reason="r", idempotency_key="c1")
    reserve_payout(tutor_id=tutor.id, amount=1500, idempotency_key="p1", payout_id=1)
    db.session.commit()
    return tutor


def _check(app):
    return app.test_cli_runner().invoke(args=["ledger", "check"])


def test_a_consistent_ledger_passes(app, busy_wallet):
    result = _check(app)
    assert result.exit_code == 0, result.output
    assert "Ledger OK" in result.output


def test_an_empty_ledger_passes(app):
    assert _check(app).exit_code == 0


def _tamper(sql: str) -> None:
    db.session.execute(sa.text(sql))
    db.session.commit()


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE tutor_wallets SET available = available + 1", "wallet differs from its postings"),
        ("UPDATE tutor_wallets SET pending = pending - 25", "wallet differs from its postings"),
        ("UPDATE tutor_wallets SET total_earned = 1", "wallet differs from its statement"),
        ("UPDATE tutor_wallets SET total_withdrawn = 7", "wallet differs from its statement"),
        (
            "UPDATE wallet_transactions SET available_after = available_after + 1 "
            "WHERE id = (SELECT min(id) FROM wallet_transactions)",
            "statement running sum differs from available_after",
        ),
        (
            "UPDATE wallet_transactions SET pending_change = 0, pending_after = 0 "
            "WHERE id = (SELECT min(id) FROM wallet_transactions)",
            "statement line differs from its entry",
        ),
        ("DELETE FROM wallet_transactions WHERE type = 'credit'", "entry without a statement line"),
        ("UPDATE wallet_monthly_totals SET fees = fees + 1", "monthly totals differ"),
        ("DELETE FROM wallet_monthly_totals", "monthly totals differ"),
    ],
)
def test_each_drift_is_named_and_fails_the_command(app, busy_wallet, sql, named):
    _tamper(sql)
    result = _check(app)
    assert result.exit_code != 0
    assert named in result.output


def test_an_unbalanced_entry_is_named(app, busy_wallet, is_postgres):
    # The database refuses this write; turn its triggers off for the session to make one.
    if is_postgres:
        db.session.execute(sa.text("SET session_replication_role = replica"))
    db.session.execute(
        sa.text(
            "UPDATE ledger_postings SET amount = amount + 1 "
            "WHERE id = (SELECT min(id) FROM ledger_postings)"
        )
    )
    if is_postgres:
        db.session.execute(sa.text("SET session_replication_role = origin"))
    db.session.commit()
    result = _check(app)
    assert result.exit_code != 0
    assert "entry not balanced: entry 1 (e1) sums to 1" in result.output
