"""`post_many`: many entries in one statement, each as `post()` would write it."""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.accounts import platform_account_ids
from portal.ledger.bulk import NewEntry, post_many
from portal.ledger.models import EntryKind, LedgerEntry, LedgerPosting
from portal.ledger.posting import IdempotencyConflict, LedgerError, UnbalancedEntry, post


def _entry(key: str, amount: int, kind=EntryKind.SUBSCRIPTION_PAID) -> NewEntry:
    ids = platform_account_ids()
    cash, unearned = ids["provider_cash"], ids["subscriptions_unearned"]
    return NewEntry(key, kind, [(cash, amount), (unearned, -amount)], memo=f"memo {key}")


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_every_entry_is_written_in_order_with_its_postings():
    ids = post_many([_entry("m:1", 100), _entry("m:2", 250), _entry("m:3", 7)])
    db.session.commit()
    entries = [db.session.get(LedgerEntry, i) for i in ids]
    assert [e.idempotency_key for e in entries] == ["m:1", "m:2", "m:3"]
    assert ids == sorted(ids)
    assert [sorted(p.amount for p in e.postings) for e in entries] == [
        [-100, 100], [-250, 250], [-7, 7],
    ]  # fmt: skip
    assert entries[1].memo == "memo m:2" and entries[1].kind == EntryKind.SUBSCRIPTION_PAID


def test_an_existing_key_is_answered_with_its_entry_and_not_written_again():
    first = post(**_as_post(_entry("m:1", 100))).entry_id
    ids = post_many([_entry("m:0", 50), _entry("m:1", 999)])
    db.session.commit()
    assert ids[1] == first
    assert _count(LedgerEntry) == 2 and _count(LedgerPosting) == 4


def test_a_key_used_for_another_movement_is_refused():
    post(**_as_post(_entry("m:1", 100)))
    with pytest.raises(IdempotencyConflict):
        post_many([_entry("m:1", 100, kind=EntryKind.SUBSCRIPTION_UNUSED)])


def test_a_key_twice_in_one_batch_and_an_unbalanced_entry_are_refused_before_writing():
    with pytest.raises(LedgerError):
        post_many([_entry("m:1", 100), _entry("m:1", 100)])
    bad = NewEntry("m:2", EntryKind.SUBSCRIPTION_PAID, [(1, 100), (2, -99)])
    with pytest.raises(UnbalancedEntry):
        post_many([_entry("m:1", 100), bad])
    assert _count(LedgerEntry) == 0
    assert post_many([]) == []


def _as_post(entry: NewEntry) -> dict:
    return {
        "idempotency_key": entry.idempotency_key,
        "kind": entry.kind,
        "postings": entry.postings,
        "memo": entry.memo,
    }
