"""What the tests share, in one place: each helper lives here once.

- `tiers`: tests that need a real service skip without it, or fail in CI.
- `races`: run calls at the same moment, each in its own thread and connection.
- `servers`: a free port, and a small HTTP server run by a thread.
- `browser`: the portal served live, and Chromium for the browser tier.
- `workers`: a real Celery worker on Redis.
- `localstripe`: localstripe in a subprocess, and what Stripe.js does in a browser.
- `stripe_replay`, `stripe_transfers`: recorded Stripe answers for what localstripe lacks.
- `ledger`: the ledger's invariants, asserted.
"""
