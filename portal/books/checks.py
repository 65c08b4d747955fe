"""The full check of the books: the ledger's invariants, then the wallets' against it.

It sits above the ledger, the wallets and the subscriptions so that the ledger never
imports what projects from it. An empty list means every invariant holds:

1. every entry has at least two postings and they sum to zero;
2. a tutor account is only moved by that tutor's entries;
3. every wallet equals its postings (pending, available, in flight);
4. every wallet equals its statement (changes summed; lifetime earned / withdrawn);
5. every statement line's running sums match its ``*_after`` balances;
6. every statement line matches its entry's postings, and every tutor entry has one;
7. the monthly totals equal their statement lines;
8. subscription money: unearned revenue is never negative and equals what the billing
   periods hold; each period's entries match its row, its shares never exceed what was
   paid, and its lesson counts match its covered bookings (`portal.subscriptions.checks`).
"""

from __future__ import annotations

from portal.ledger.checks import Drift, ledger_drifts
from portal.subscriptions.checks import subscription_drifts
from portal.wallets.checks import wallet_drifts


def check_invariants() -> list[Drift]:
    """Verify every invariant of the ledger and the wallets; name each drift."""
    return ledger_drifts() + wallet_drifts() + subscription_drifts()
