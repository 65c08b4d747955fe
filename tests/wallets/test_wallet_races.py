"""Races on PostgreSQL with real threads and connections: no lost update, no overdraft,
one entry per idempotency key."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.errors import Conflict, InsufficientFunds
from portal.extensions import db
from portal.ledger.models import PLATFORM_ACCOUNTS, LedgerAccount, LedgerEntry
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import TutorWallet
from portal.wallets.movement import get_or_create_wallet
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.refunds import process_refund_deduction
from tests import factories
from tests.support.ledger import assert_ledger_ok
from tests.support.races import at_once
from tests.wallets.conftest import figures

pytestmark = pytest.mark.postgres


def test_sixteen_workers_fifty_mixed_operations_on_one_wallet(app, postgres, tutor):
    credit_wallet(tutor_id=tutor.id, amount=50_000, reason="seed", idempotency_key="seed")
    process_lesson_earning(tutor_id=tutor.id, gross=1000, fee=100, idempotency_key="seed-earning")
    db.session.commit()
    tutor_id = tutor.id

    def work(worker: int) -> Counter:
        rng = random.Random(worker)
        done: Counter = Counter()
        reserved: list[tuple[int, int]] = []
        earned: list[tuple[int, int]] = []
        credits: list[tuple[str, int, int]] = []
        for step in range(50):
            key = f"w{worker}:{step}"
            op = rng.choice(
                [
                    "earn",
                    "earn",
                    "credit",
                    "debit",
                    "debit",
                    "payout",
                    "settle",
                    "refund",
                    "release",
                    "replay",
                ]
            )
            amount = rng.randint(100, 6000)
            try:
                if op == "earn":
                    process_lesson_earning(
                        tutor_id=tutor_id,
                        gross=amount,
                        fee=amount // 10,
                        idempotency_key=key,
                        payment_id=worker * 1000 + step,
                    )
                    done["earned"] += amount - amount // 10
                    done["moved"] += 1
                    earned.append((worker * 1000 + step, amount))
                elif op == "credit":
                    line = credit_wallet(
                        tutor_id=tutor_id, amount=amount, reason="r", idempotency_key=key
                    )
                    credits.append((key, amount, line.id))
                    done["credited"] += amount
                    done["moved"] += 1
                elif op == "debit":
                    debit_wallet(tutor_id=tutor_id, amount=amount, reason="r", idempotency_key=key)
                    done["debited"] += amount
                    done["moved"] += 1
                elif op == "payout":
                    payout_id = worker * 1000 + step
                    reserve_payout(
                        tutor_id=tutor_id, amount=amount, idempotency_key=key, payout_id=payout_id
                    )
                    reserved.append((payout_id, amount))
                    done["reserved"] += amount
                    done["moved"] += 1
                elif op == "settle" and reserved:
                    payout_id, amount = reserved.pop()
                    if rng.random() < 0.5:
                        complete_payout_funds(
                            tutor_id=tutor_id,
                            amount=amount,
                            idempotency_key=key,
                            payout_id=payout_id,
                        )
                        done["withdrawn"] += amount
                        done["moved"] += 1
                    else:
                        release_payout_reservation(
                            tutor_id=tutor_id,
                            amount=amount,
                            idempotency_key=key,
                            payout_id=payout_id,
                        )
                        done["returned"] += amount
                        done["moved"] += 1
                elif op == "refund" and earned:
                    payment_id, gross = earned.pop()
                    process_refund_deduction(
                        tutor_id=tutor_id,
                        refund=gross,
                        fee_part=gross // 10,
                        idempotency_key=key,
                        payment_id=payment_id,
                    )
                    done["refunded"] += gross - gross // 10
                    done["moved"] += 1
                elif op == "release":
                    release_pending_earnings(utcnow() + timedelta(days=8))
                    done["released_calls"] += 1
                elif op == "replay" and credits:
                    old_key, old_amount, line_id = rng.choice(credits)
                    again = credit_wallet(
                        tutor_id=tutor_id, amount=old_amount, reason="r", idempotency_key=old_key
                    )
                    assert again.id == line_id
                    done["replayed"] += 1
                elif op == "replay":  # a replay of a movement of another kind is refused
                    credit_wallet(
                        tutor_id=tutor_id, amount=1, reason="r", idempotency_key="seed-earning"
                    )
                db.session.commit()
                done["ok"] += 1
            except InsufficientFunds:
                db.session.rollback()
                done["refused"] += 1
            except Conflict:  # a replayed key of another kind of movement
                db.session.rollback()
                done["conflict"] += 1
        return done

    results = at_once([partial(work, i) for i in range(16)], app=app, catch=Exception)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    total = sum(results, Counter())
    assert total["ok"] + total["refused"] + total["conflict"] == 16 * 50
    assert total["refused"] > 0  # the test did push against the balance

    db.session.expire_all()
    got = figures(tutor_id)
    assert got["earned"] == 900 + total["earned"] - total["refunded"]
    assert got["withdrawn"] == total["withdrawn"]
    assert got["in_flight"] == total["reserved"] - total["withdrawn"] - total["returned"]
    owed = got["pending"] + got["available"] + got["in_flight"] + got["withdrawn"]
    assert owed == 50_000 + got["earned"] + total["credited"] - total["debited"]
    entries = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    releases = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.kind == "earning_released")
    )
    # One entry for each movement that succeeded (replays add none), plus the releases.
    assert entries == 2 + total["moved"] + releases
    assert_ledger_ok()


def test_eight_workers_posting_the_same_key_make_exactly_one_entry(app, postgres, tutor):
    tutor_id = tutor.id
    get_or_create_wallet(tutor_id)
    db.session.commit()

    def work(_):
        line = process_lesson_earning(
            tutor_id=tutor_id,
            gross=4500,
            fee=675,
            idempotency_key="payment:42:captured",
            payment_id=42,
        )
        db.session.commit()
        return line.id

    results = at_once([partial(work, i) for i in range(8)], app=app, catch=Exception)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 1
    assert figures(tutor_id)["pending"] == 3825
    assert_ledger_ok()


def test_eight_workers_opening_the_same_wallet_make_one(app, postgres):
    tutor_id = factories.UserFactory(role="tutor").id

    def work(i):
        line = credit_wallet(tutor_id=tutor_id, amount=100, reason="r", idempotency_key=f"c{i}")
        db.session.commit()
        return line.wallet_id

    results = at_once([partial(work, i) for i in range(8)], app=app, catch=Exception)
    assert all(isinstance(r, int) for r in results), results
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TutorWallet)) == 1
    # The tutor's three accounts and the platform's, each opened once.
    accounts = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerAccount))
    assert accounts == 3 + len(PLATFORM_ACCOUNTS)
    assert figures(tutor_id)["available"] == 800
    assert_ledger_ok()


def test_concurrent_debits_never_overdraw(app, postgres, tutor):
    credit_wallet(tutor_id=tutor.id, amount=1000, reason="r", idempotency_key="c")
    db.session.commit()
    tutor_id = tutor.id

    def work(i):
        try:
            debit_wallet(tutor_id=tutor_id, amount=300, reason="r", idempotency_key=f"d{i}")
            db.session.commit()
            return "ok"
        except InsufficientFunds:
            db.session.rollback()
            return "refused"

    outcomes = at_once([partial(work, i) for i in range(8)], app=app, catch=Exception)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert figures(tutor_id)["available"] == 100
