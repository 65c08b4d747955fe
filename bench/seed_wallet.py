"""Write a long, consistent statement for one tutor fast (benchmarks and the query test).

Entries, postings and statement lines go in with bulk INSERTs rather than through the
wallet service, with the same figures the service would have written: earnings,
their releases, and now and then a payout requested and completed, spread evenly over
`days` up to now. The wallet row ends up equal to its postings, so `flask ledger check`
passes. On PostgreSQL the deferred zero-sum triggers are skipped for this one
transaction (`session_replication_role = replica`, a superuser setting): the rows are
balanced by construction and checking 100,000 entries one by one would take minutes.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.ledger.accounts import platform_account_ids
from portal.ledger.models import EntryKind, LedgerEntry, LedgerPosting, PlatformAccount
from portal.wallets.models import TransactionType, TutorWallet, WalletTransaction
from portal.wallets.months import rebuild_monthly_totals
from portal.wallets.movement import get_or_create_wallet

CHUNK = 5000


def seed_statement(tutor_id: int, lines: int, *, days: int = 730, gross: int = 4500) -> None:
    """Append `lines` statement lines to the tutor's wallet and commit."""
    wallet = get_or_create_wallet(tutor_id)
    accounts = platform_account_ids()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    state = {
        "pending": wallet.pending,
        "available": wallet.available,
        "in_flight": wallet.in_flight,
        "earned": wallet.total_earned,
        "withdrawn": wallet.total_withdrawn,
    }
    now = utcnow()
    step = timedelta(days=days) / max(lines, 1)
    fee = gross * 15 // 100
    net = gross - fee
    plan = _plan(lines)
    # Entry ids are given, not generated, so that a release can name its earning.
    state["next_id"] = (db.session.scalar(sa.select(sa.func.max(LedgerEntry.id))) or 0) + 1
    state["unreleased"] = []
    for start in range(0, lines, CHUNK):
        batch = plan[start : start + CHUNK]
        stamps = [now - step * (lines - start - i) for i in range(len(batch))]
        _write(wallet, accounts, batch, stamps, state, gross, fee, net, start)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), "
                "(SELECT max(id) FROM ledger_entries))"
            )
        )
    rebuild_monthly_totals(wallet.id)
    db.session.execute(
        sa.update(TutorWallet)
        .where(TutorWallet.id == wallet.id)
        .values(
            pending=state["pending"],
            available=state["available"],
            in_flight=state["in_flight"],
            total_earned=state["earned"],
            total_withdrawn=state["withdrawn"],
        )
    )
    db.session.commit()


def _plan(lines: int) -> list[str]:
    """earn, earn, release, release, … with a payout (request, complete) every 20 lines."""
    plan: list[str] = []
    cycle = 0
    while len(plan) < lines:
        cycle += 1
        plan += ["earning", "earning", "release", "release"]
        if cycle % 5 == 0:
            plan += ["payout", "payout_completed"]
    return plan[:lines]


def _write(wallet, accounts, batch, stamps, state, gross, fee, net, offset) -> None:
    cash, fees = accounts[PlatformAccount.PROVIDER_CASH], accounts[PlatformAccount.FEE_REVENUE]
    paid = accounts[PlatformAccount.PAYOUTS_PAID]
    pend, avail, flight = (
        wallet.pending_account_id,
        wallet.available_account_id,
        wallet.in_flight_account_id,
    )
    entries, moves = [], []
    for i, (kind, stamp) in enumerate(zip(batch, stamps, strict=True)):
        key = f"seed:{wallet.id}:{stamp.timestamp()}:{offset + i}"
        entry_id, parent_id = state["next_id"], None
        state["next_id"] += 1
        if kind == "earning" or (kind == "release" and not state["unreleased"]):
            entry_kind, t = EntryKind.LESSON_EARNING, TransactionType.EARNING
            move = dict(pending=net, available=0, in_flight=0, amount=net, gross=gross, fee=fee)
            postings = [(cash, gross), (fees, -fee), (pend, -net)]
            state["earned"] += net
        elif kind == "release":
            parent_id = state["unreleased"].pop(0)
            entry_kind, t = EntryKind.EARNING_RELEASED, TransactionType.RELEASE
            move = dict(pending=-net, available=net, in_flight=0, amount=net, gross=None, fee=None)
            postings = [(pend, net), (avail, -net)]
        elif kind == "payout" and state["available"] > 0:
            amount = state["available"] // 2 or state["available"]
            entry_kind, t = EntryKind.PAYOUT_RESERVED, TransactionType.PAYOUT
            move = dict(
                pending=0, available=-amount, in_flight=amount, amount=-amount, gross=None, fee=None
            )
            postings = [(avail, amount), (flight, -amount)]
        elif kind == "payout_completed" and state["in_flight"] > 0:
            amount = state["in_flight"]
            entry_kind, t = EntryKind.PAYOUT_COMPLETED, TransactionType.PAYOUT_COMPLETED
            move = dict(
                pending=0, available=0, in_flight=-amount, amount=-amount, gross=None, fee=None
            )
            postings = [(flight, amount), (paid, -amount)]
            state["withdrawn"] += amount
        else:
            entry_kind, t = EntryKind.LESSON_EARNING, TransactionType.EARNING
            move = dict(pending=net, available=0, in_flight=0, amount=net, gross=gross, fee=fee)
            postings = [(cash, gross), (fees, -fee), (pend, -net)]
            state["earned"] += net
        if entry_kind == EntryKind.LESSON_EARNING:
            state["unreleased"].append(entry_id)
        state["pending"] += move["pending"]
        state["available"] += move["available"]
        state["in_flight"] += move["in_flight"]
        entries.append(
            {
                "id": entry_id,
                "parent_id": parent_id,
                "idempotency_key": key,
                "kind": entry_kind.value,
                "memo": "",
                "tutor_id": wallet.tutor_id,
                "created_at": stamp,
            }
        )
        moves.append(
            (t, move, postings, {k: state[k] for k in ("pending", "available", "in_flight")}, stamp)
        )
    db.session.execute(sa.insert(LedgerEntry), entries)
    ids = [entry["id"] for entry in entries]
    db.session.execute(
        sa.insert(LedgerPosting),
        [
            {"entry_id": entry_id, "account_id": account, "amount": amount}
            for entry_id, (_, _, postings, _, _) in zip(ids, moves, strict=True)
            for account, amount in postings
        ],
    )
    db.session.execute(
        sa.insert(WalletTransaction),
        [
            {
                "wallet_id": wallet.id,
                "entry_id": entry_id,
                "type": t.value,
                "amount": move["amount"],
                "available_change": move["available"],
                "pending_change": move["pending"],
                "in_flight_change": move["in_flight"],
                "available_after": after["available"],
                "pending_after": after["pending"],
                "in_flight_after": after["in_flight"],
                "gross": move["gross"],
                "fee": move["fee"],
                "description": "",
                "created_at": stamp,
            }
            for entry_id, (t, move, _, after, stamp) in zip(ids, moves, strict=True)
        ],
    )
