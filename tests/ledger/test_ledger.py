"""The ledger's own rules: balanced entries, append-only rows, idempotent keys, the check."""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.accounts import platform_account_ids
from portal.ledger.models import EntryKind, LedgerEntry, LedgerPosting
from portal.ledger.posting import AppendOnlyViolation, UnbalancedEntry, post
from portal.wallets.adjustments import credit_wallet


def _accounts():
    ids = platform_account_ids()
    return ids["provider_cash"], ids["fee_revenue"], ids["adjustments"]


def test_post_writes_a_balanced_entry_once():
    cash, fees, _ = _accounts()
    posted = post(
        idempotency_key="t:1", kind=EntryKind.REFUND, postings=[(cash, 500), (fees, -500)]
    )
    db.session.commit()
    assert posted.created
    assert [(p.account_id, p.amount) for p in posted.entry.postings] == [(cash, 500), (fees, -500)]
    again = post(idempotency_key="t:1", kind=EntryKind.REFUND, postings=[(cash, 900), (fees, -900)])
    assert not again.created and again.entry.id == posted.entry.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerPosting)) == 2


@pytest.mark.parametrize(
    "postings",
    [[(1, 500), (2, -499)], [(1, 500)], [(1, 500), (1, -500)], [(1, 0), (2, 0)], []],
)
def test_unbalanced_entries_are_refused(postings):
    _accounts()
    with pytest.raises(UnbalancedEntry):
        post(idempotency_key="t:bad", kind=EntryKind.REFUND, postings=postings)


def test_amounts_are_ints_only():
    cash, fees, _ = _accounts()
    with pytest.raises(TypeError):
        post(idempotency_key="t", kind=EntryKind.REFUND, postings=[(cash, 5.0), (fees, -5.0)])


def test_the_orm_refuses_to_change_or_delete_entries_and_postings(tutor):
    credit_wallet(tutor_id=tutor.id, amount=100, reason="r", idempotency_key="c")
    db.session.commit()
    posting = db.session.scalars(sa.select(LedgerPosting)).first()
    posting.amount = 1
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    entry = db.session.scalars(sa.select(LedgerEntry)).first()
    db.session.delete(entry)
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()


def test_the_orm_refuses_unbalanced_postings_at_flush():
    cash, fees, _ = _accounts()
    entry = LedgerEntry(idempotency_key="raw", kind="refund")
    db.session.add(entry)
    db.session.flush()
    db.session.add_all(
        [
            LedgerPosting(entry_id=entry.id, account_id=cash, amount=10),
            LedgerPosting(entry_id=entry.id, account_id=fees, amount=-9),
        ]
    )
    with pytest.raises(UnbalancedEntry):
        db.session.flush()
    db.session.rollback()


def test_the_factory_installs_the_flush_guard(app):
    import sqlalchemy.orm as so

    from portal.ledger import guard

    assert sa.event.contains(so.Session, "before_flush", guard.guard_ledger_rows)
    guard.install()  # a second app (or a second call) changes nothing
    assert sa.event.contains(so.Session, "before_flush", guard.guard_ledger_rows)


@pytest.mark.postgres
def test_postgres_refuses_updates_and_deletes(tutor, postgres):
    credit_wallet(tutor_id=tutor.id, amount=100, reason="r", idempotency_key="c")
    db.session.commit()
    for statement in (
        "UPDATE ledger_postings SET amount = amount + 1",
        "DELETE FROM ledger_postings",
        "UPDATE ledger_entries SET memo = 'changed'",
        "DELETE FROM ledger_entries",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_entry_at_commit(postgres):
    cash, fees, _ = _accounts()
    db.session.commit()
    for amounts in ((10, -9), (10,)):
        entry_id = db.session.execute(
            sa.text(
                "INSERT INTO ledger_entries (idempotency_key, kind, memo, created_at) "
                "VALUES ('raw', 'refund', '', now()) RETURNING id"
            )
        ).scalar_one()
        for account, amount in zip((cash, fees), amounts, strict=False):
            db.session.execute(
                sa.text(
                    "INSERT INTO ledger_postings (entry_id, account_id, amount) VALUES (:e, :a, :m)"
                ),
                {"e": entry_id, "a": account, "m": amount},
            )
        with pytest.raises(sa.exc.DBAPIError, match="sum to zero|at least 2"):
            db.session.commit()
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


def test_the_ddl_has_no_bind_parameters():
    from portal.ledger.models import LEDGER_POSTGRES_DDL, LEDGER_POSTGRES_DROP_DDL

    # A migration runs it with op.execute(), that is through text(): nothing to bind.
    for ddl in (LEDGER_POSTGRES_DDL, LEDGER_POSTGRES_DROP_DDL):
        assert sa.text(ddl).compile().params == {}
        assert "%" not in ddl


@pytest.mark.postgres
def test_the_ddl_runs_verbatim_as_a_migration_would(postgres, tutor):
    from portal.ledger.models import LEDGER_POSTGRES_DDL, LEDGER_POSTGRES_DROP_DDL

    with db.engine.begin() as conn:
        conn.execute(sa.text(LEDGER_POSTGRES_DROP_DDL))
        conn.execute(sa.text(LEDGER_POSTGRES_DDL))
    credit_wallet(tutor_id=tutor.id, amount=100, reason="r", idempotency_key="c")
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text("DELETE FROM ledger_postings"))
    db.session.rollback()
