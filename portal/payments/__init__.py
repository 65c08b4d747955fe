"""Payments: lesson payments with Stripe, saved cards, refunds and the billing pages.

The services, one story each, importing one way (each only from those above it):

- `lookups` — finding and locking a payment; the checks every path starts with.
- `customers` — the payer's customer at the provider.
- `cards` — saved cards and card setup.
- `effects` — what a payment's money does elsewhere: the tutor's earning in the ledger,
  the invoice, the receipt, the audit log, in that order.
- `outcome` — an attempt's outcome as the provider reports it (succeeded, failed,
  cancelled, abandoned), for intents and Checkout Sessions; calls `effects`.
- `intents` — starting an attempt with the card form.
- `confirmation` — confirming it on the server.
- `checkout` — paying on Stripe Checkout instead.
- `refunds` — refunds asked here or made at the provider; calls `effects`.

Every public service function is part of the caller's unit of work: it adds and flushes,
never commits; the view, API handler or task commits once. Provider calls happen inside
that unit of work. If one fails the caller rolls back and nothing is written; the
idempotency keys are derived from rows that exist before the call (the lesson and its
attempt number, the payment and its refund number), so a retry after a rollback replays
the same provider request instead of creating a second one.
"""
