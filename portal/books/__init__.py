"""The books: the ledger and the wallets that project from it, seen together.

The ledger (`portal.ledger`) knows nothing of wallets; the wallets (`portal.wallets`)
post through the ledger. What needs both sits here, above them: the full invariant
check (`checks`), the admin's ledger page (`admin`) and `flask ledger …` (`commands`).
"""
