"""Many movements of one wallet in one statement, for bulk work (the hourly release).

Same contract as `portal.wallets.movement`'s one-by-one path: the wallet row locked
first, each movement's entry under its own idempotency key (one that exists is
skipped), one statement line each with the balances after it; only the round trips
differ. PostgreSQL only: elsewhere, and whenever the batch cannot be written here, the
caller goes one by one with `movement.apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm.attributes import set_committed_value

from portal.db import is_postgres
from portal.extensions import db
from portal.ledger import posting as ledger
from portal.ledger.models import LedgerEntry
from portal.wallets.models import TRANSACTION_TYPES, TutorWallet
from portal.wallets.months import month_figures
from portal.wallets.movement import Move, WalletLock

_w = TutorWallet.__table__.c


def apply_batch(tutor_id: int, moves: list[tuple[Move, dict]]) -> int | None:
    """PostgreSQL: many movements of one wallet in one statement (bulk work such as the
    hourly release): the wallet locked first, then each movement's entry under its own
    key, in order, as `apply` would write them one by one, and one statement line each
    with its balances after. `moves` are (move, entry fields: key, memo, parent_id,
    booking_id, payment_id, payout_id); movements that add to the month's totals are not
    batched. Returns how many were written (a key that exists is skipped), or None when
    the batch could not be written here (not PostgreSQL, no wallet, platform accounts
    not opened yet): the caller then goes one by one."""
    if not is_postgres(db.session) or not moves:
        return None
    entries, lines = [], []
    for move, fields in moves:
        if month_figures(move.line_type, move.amount, move.fee) is not None:
            raise ValueError(f"a {move.line_type} line adds to its month: not batched")
        memo = fields.get("memo") or TRANSACTION_TYPES[move.line_type][0]
        postings = [(code, amount) for code, amount in move.platform.items()]
        postings += [
            ("pending", -move.pending),
            ("available", -move.available),
            ("in_flight", -move.in_flight),
        ]
        entries.append(
            ledger.BatchEntry(
                idempotency_key=fields["key"],
                kind=move.kind,
                postings=postings,
                memo=memo,
                parent_id=fields.get("parent_id"),
                booking_id=fields.get("booking_id"),
                payment_id=fields.get("payment_id"),
                payout_id=fields.get("payout_id"),
            )
        )
        lines.append((move, memo[:255], fields))
    rows = ledger.post_batch_locked(
        lock=WalletLock(),
        lock_params={"lock_tutor_id": tutor_id},
        entries=entries,
        projection=BatchWalletProjection(tuple(lines)),
        tutor_id=tutor_id,
    )
    if not rows:
        # Nothing written: every key existed, or the batch could not be written here.
        existing = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.idempotency_key.in_([e.idempotency_key for e in entries]))
        )
        return 0 if existing == len(entries) else None
    last = rows[0]
    loaded = db.session.identity_map.get(so.util.identity_key(TutorWallet, last.wallet_id))
    if loaded is not None:
        for name in ("pending", "available", "in_flight", "total_earned", "total_withdrawn"):
            set_committed_value(loaded, name, getattr(last, name))
    return len(rows)


@dataclass(frozen=True)
class BatchWalletProjection:
    """The wallet side of `apply_batch`: the buckets and lifetime totals move by the sum
    of the movements written, and each gets its statement line, whose balances after
    are the wallet's final ones less what the later movements of the batch moved."""

    lines: tuple

    ctes: ClassVar[str] = """mv AS (
    SELECT * FROM unnest(CAST(:b_pending AS bigint[]), CAST(:b_available AS bigint[]),
        CAST(:b_in_flight AS bigint[]), CAST(:b_earned AS bigint[]),
        CAST(:b_withdrawn AS bigint[]), CAST(:b_amount AS bigint[]), CAST(:b_type AS varchar[]),
        CAST(:b_description AS varchar[]), CAST(:b_booking AS integer[]),
        CAST(:b_payment AS integer[]), CAST(:b_payout AS integer[]))
        WITH ORDINALITY AS mv(d_pending, d_available, d_in_flight, d_earned, d_withdrawn,
            amount, type, description, booking_id, payment_id, payout_id, n)
), r AS (
    SELECT d.entry_id, mv.*,
        sum(mv.d_pending) OVER later AS later_pending,
        sum(mv.d_available) OVER later AS later_available,
        sum(mv.d_in_flight) OVER later AS later_in_flight
    FROM d JOIN mv ON mv.n = d.n
    WINDOW later AS (ORDER BY mv.n ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
), w AS (
    UPDATE tutor_wallets SET
        pending = pending + (SELECT coalesce(sum(d_pending), 0) FROM r),
        available = available + (SELECT coalesce(sum(d_available), 0) FROM r),
        in_flight = in_flight + (SELECT coalesce(sum(d_in_flight), 0) FROM r),
        total_earned = total_earned + (SELECT coalesce(sum(d_earned), 0) FROM r),
        total_withdrawn = total_withdrawn + (SELECT coalesce(sum(d_withdrawn), 0) FROM r),
        updated_at = :now
    WHERE id = (SELECT id FROM lk) AND EXISTS (SELECT 1 FROM r)
    RETURNING id AS wallet_id, pending, available, in_flight, total_earned, total_withdrawn
), l AS (
    INSERT INTO wallet_transactions (wallet_id, entry_id, type, amount, available_change,
        pending_change, in_flight_change, available_after, pending_after, in_flight_after,
        gross, fee, description, payment_id, payout_id, booking_id, created_at)
    SELECT w.wallet_id, r.entry_id, r.type, r.amount, r.d_available, r.d_pending,
        r.d_in_flight, w.available - coalesce(r.later_available, 0),
        w.pending - coalesce(r.later_pending, 0), w.in_flight - coalesce(r.later_in_flight, 0),
        NULL, NULL, r.description, r.payment_id, r.payout_id, r.booking_id,
        CAST(:created_at AS timestamptz)
    FROM r CROSS JOIN w
    RETURNING id
)"""
    columns: ClassVar[str] = "l.id AS line_id, w.*"
    sources: ClassVar[str] = "l, w"
    bindparams: ClassVar[tuple] = (sa.bindparam("now", type_=_w.updated_at.type),)

    def params(self, created_at: datetime) -> dict:
        moves = [(move, memo, fields) for move, memo, fields in self.lines]
        return {
            "now": created_at,
            "b_pending": [m.pending for m, _, _ in moves],
            "b_available": [m.available for m, _, _ in moves],
            "b_in_flight": [m.in_flight for m, _, _ in moves],
            "b_earned": [m.earned for m, _, _ in moves],
            "b_withdrawn": [m.withdrawn for m, _, _ in moves],
            "b_amount": [m.amount for m, _, _ in moves],
            "b_type": [m.line_type for m, _, _ in moves],
            "b_description": [memo for _, memo, _ in moves],
            "b_booking": [f.get("booking_id") for _, _, f in moves],
            "b_payment": [f.get("payment_id") for _, _, f in moves],
            "b_payout": [f.get("payout_id") for _, _, f in moves],
        }
