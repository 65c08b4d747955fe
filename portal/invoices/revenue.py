"""The money of a manual invoice in the ledger: no tutor share, all of it the platform's.

A student pays an open invoice: provider cash +amount, invoice revenue −amount (a credit,
revenue grows). A refund of that payment is the mirror image, and a refund the provider
could not pay out is posted back. Each is one entry through `ledger.posting.post`, under
a key derived from the payment or refund, so a success or refund seen twice posts once.
"""

from __future__ import annotations

from portal.ledger.accounts import platform_account_ids
from portal.ledger.models import EntryKind, PlatformAccount
from portal.ledger.posting import Posted, post
from portal.money import require_int

CASH = PlatformAccount.PROVIDER_CASH
REVENUE = PlatformAccount.INVOICE_REVENUE


def record_invoice_payment(
    *, amount: int, payment_id: int, key: str, actor_id: int | None, memo: str = ""
) -> Posted:
    """An invoice was paid: the provider holds the money, the platform earned it."""
    return _move(EntryKind.INVOICE_PAID, amount, payment_id, key, actor_id, memo)


def record_invoice_refund(
    *, amount: int, payment_id: int, key: str, actor_id: int | None, memo: str = ""
) -> Posted:
    """Part or all of an invoice's payment went back to the student."""
    return _move(EntryKind.INVOICE_REFUND, -amount, payment_id, key, actor_id, memo)


def reverse_invoice_refund(
    *, amount: int, payment_id: int, key: str, actor_id: int | None, memo: str = ""
) -> Posted:
    """A refund of an invoice's payment could not be paid out: the money stays here."""
    return _move(EntryKind.INVOICE_REFUND_REVERSED, amount, payment_id, key, actor_id, memo)


def _move(kind, cash: int, payment_id: int, key: str, actor_id, memo: str) -> Posted:
    require_int(cash)
    accounts = platform_account_ids()
    return post(
        idempotency_key=key,
        kind=kind,
        postings=[(accounts[CASH], cash), (accounts[REVENUE], -cash)],
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
    )
