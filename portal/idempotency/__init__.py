"""`Idempotency-Key` on the API calls that create money objects, in one place.

A client that sends a request again with the same key (after a timeout, a dropped
connection, a double click) gets the first answer again, status and body, and nothing is
done twice. The key is the caller's: the same key from another user is another key. The
same key with another body, or on another endpoint, is a 409 `idempotency_key_reused`; a
malformed one is a 400. The key's row is written in the same transaction as the request's
own work, so the two commit together or not at all: a refused request (its work rolled
back) leaves the key free for a retry, and a second request with the key waits at the
row's unique index until the first ends, then answers from it. Rows are pruned daily
after `IDEMPOTENCY_KEY_HOURS`.
"""
