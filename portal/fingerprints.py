"""Fingerprints of secrets for the audit log: equal values give equal fingerprints, so a
reader can tell that an IBAN changed (or changed back) without the log holding it.

A keyed hash (HMAC-SHA256, key derived from `SECRET_KEY`), cut to 64 bits: without the
key nobody can test guesses against the log, and a bank number's few possible values do
not make a plain hash a disguise.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

_PURPOSE = b"m4sh audit fingerprint v1"


def fingerprint(value: str | None) -> str | None:
    if value is None:
        return None
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]
