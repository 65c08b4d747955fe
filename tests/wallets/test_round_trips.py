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


def _releases(tutor_id: int) -> list[tuple]:
    lines = db.session.scalars(
        sa.select(WalletTransaction)
        .where(WalletTransaction.type == "release")
        .order_by(WalletTransaction.id)
    ).all()
    return [(t.amount, t.pending_after, t.available_after, t.pending_change) for t in lines]


def test_the_hourly_release_posts_a_tutors_earnings_in_one_statement(app, postgres):
    from datetime import timedelta

    from portal.db import utcnow
    from portal.wallets.earnings import release_earnings_of

    tutor_id = factories.UserFactory(role="tutor").id
    for n in range(5):
        process_lesson_earning(tutor_id=tutor_id, gross=1000 * (n + 1), fee=100,
                               idempotency_key=f"e{n}", payment_id=n + 1)  # fmt: skip
    db.session.commit()
    later = utcnow() + timedelta(days=8)
    with counted() as statements:
        assert release_earnings_of(tutor_id, later) == 5
    # The lock, the due earnings, then every release at once.
    assert len(statements) == 3, statements
    db.session.commit()
    # What five one-by-one releases would have written, line after line.
    nets = [1000 * (n + 1) - 100 for n in range(5)]
    total = sum(nets)
    expected, pending, available = [], total, 0
    for net in nets:
        pending, available = pending - net, available + net
        expected.append((net, pending, available, -net))
    assert _releases(tutor_id) == expected
    assert figures(tutor_id)["available"] == total and figures(tutor_id)["pending"] == 0
    keys = db.session.scalars(
        sa.select(LedgerEntry.idempotency_key).where(LedgerEntry.kind == "earning_released")
    ).all()
    assert len(keys) == 5 and all(k.endswith(":released") for k in keys)
    assert release_earnings_of(tutor_id, later) == 0  # nothing left: nothing posted twice
    assert_ledger_ok()


def test_a_batch_skips_the_releases_already_posted(app, postgres):
    from portal.ledger.models import EntryKind
    from portal.wallets.batch import apply_batch
    from portal.wallets.models import TransactionType
    from portal.wallets.movement import Move

    tutor_id = factories.UserFactory(role="tutor").id
    first = _earn(tutor_id, "e1")
    second = _earn(tutor_id, "e2")
    db.session.commit()

    def release(line):
        move = Move(EntryKind.EARNING_RELEASED, TransactionType.RELEASE, amount=3825,
                    pending=-3825, available=3825)  # fmt: skip
        return move, {"key": f"earning:{line.entry_id}:released", "parent_id": line.entry_id}

    assert apply_batch(tutor_id, [release(first)]) == 1
    db.session.commit()
    assert apply_batch(tutor_id, [release(first), release(second)]) == 1
    db.session.commit()
    assert apply_batch(tutor_id, [release(first), release(second)]) == 0
    db.session.commit()
    assert [line[1:3] for line in _releases(tutor_id)] == [(3825, 3825), (0, 7650)]
    assert figures(tutor_id)["available"] == 7650
    assert_ledger_ok()
