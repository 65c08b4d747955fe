"""How many statements a movement costs, and that the short paths write what the long
ones do (PostgreSQL: the one-statement earning)."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.models import WalletTransaction
from portal.wallets.movement import get_or_create_wallet
from tests import factories
from tests.support.ledger import assert_ledger_ok
from tests.wallets.conftest import figures


@contextmanager
def counted():
    statements: list[str] = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)


def _earn(tutor_id: int, key: str):
    return process_lesson_earning(
        tutor_id=tutor_id, gross=4500, fee=675, idempotency_key=key, payment_id=7, booking_id=None
    )


def test_an_earning_is_one_statement_once_the_wallet_exists(app, postgres):
    tutor_id = factories.UserFactory(role="tutor").id
    get_or_create_wallet(tutor_id)
    _earn(tutor_id, "warm")  # opens the platform accounts
    db.session.commit()

    with counted() as statements:
        line = _earn(tutor_id, "payment:1:captured")
    assert len(statements) == 1, statements
    assert (line.type, line.amount, line.pending_after, line.gross, line.fee) == (
        "earning",
        3825,
        2 * 3825,
        4500,
        675,
    )
    db.session.commit()

    stored = db.session.scalar(sa.select(WalletTransaction).where(WalletTransaction.id == line.id))
    assert (stored.entry_id, stored.pending_after, stored.wallet_id) == (
        line.entry_id,
        2 * 3825,
        line.wallet_id,
    )
    entry = db.session.get(LedgerEntry, line.entry_id)
    assert (entry.kind, entry.tutor_id, entry.payment_id) == ("lesson_earning", tutor_id, 7)
    amounts = db.session.scalars(
        sa.select(LedgerPosting.amount).where(LedgerPosting.entry_id == entry.id)
    ).all()
    assert sorted(amounts) == [-3825, -675, 4500]
    assert figures(tutor_id)["pending"] == 2 * 3825
    assert_ledger_ok()


def test_the_one_statement_falls_back_for_a_new_wallet_and_an_existing_key(app):
    tutor_id = factories.UserFactory(role="tutor").id
    first = _earn(tutor_id, "payment:1:captured")  # no wallet yet: opened on the way
    db.session.commit()
    again = _earn(tutor_id, "payment:1:captured")  # the key exists: the first line
    db.session.commit()
    assert again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 1
    assert figures(tutor_id)["pending"] == 3825
    assert_ledger_ok()
