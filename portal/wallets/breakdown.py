"""Which money a payout pays out: its amount traced back to the credits of the available
balance it came from (released lesson earnings, admin credits, returned payouts).

Available money is spent first in, first out: each debit of available (a payout, an admin
debit, a refund taken from available) uses up the oldest credits still unspent. A debt
(available below zero) is repaid by the next credits before they count for anything else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import sqlalchemy as sa

from portal.extensions import db
from portal.wallets.models import TransactionType, WalletTransaction


@dataclass(frozen=True)
class Source:
    line: WalletTransaction  # the credit of available the money came from
    amount: int  # how much of this payout came from it


def payout_sources(wallet_id: int, payout_ids: set[int]) -> dict[int, list[Source]]:
    """For each payout (by id) of the wallet: the credits its amount came from, oldest first."""
    if not payout_ids:
        return {}
    t = WalletTransaction
    reserved = db.session.scalars(
        sa.select(t.id).where(
            t.wallet_id == wallet_id,
            t.type == TransactionType.PAYOUT,
            t.payout_id.in_(payout_ids),
        )
    ).all()
    if not reserved:
        return {}
    lines = db.session.scalars(
        sa.select(t)
        .where(t.wallet_id == wallet_id, t.available_change != 0, t.id <= max(reserved))
        .order_by(t.id)
    )
    credits: deque[list] = deque()  # [line, unspent]
    owed = 0  # debt to repay before credits count
    sources: dict[int, list[Source]] = {}
    for line in lines:
        change = line.available_change
        if change > 0:
            repaid = min(owed, change)
            owed -= repaid
            if change > repaid:
                credits.append([line, change - repaid])
            continue
        need, used = -change, []
        while need and credits:
            head = credits[0]
            take = min(need, head[1])
            used.append(Source(head[0], take))
            head[1] -= take
            need -= take
            if not head[1]:
                credits.popleft()
        owed += need
        if line.type == TransactionType.PAYOUT and line.payout_id in payout_ids:
            sources[line.payout_id] = used
    return sources
