"""Field encryption at rest: MultiFernet keyed from ``FIELD_ENCRYPTION_KEYS``.

``FIELD_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys, newest first. The
newest key encrypts; every listed key decrypts. Rotating is: put a new key in front,
run ``flask keys rotate`` (every encrypted value is re-encrypted with the newest key),
then drop the old key from the list.

Without the variable, outside production, the embedded default makes one development
key in ``instance/field-encryption.key`` on first use. Production refuses to start
without keys (`portal.config.Config.validate`).

Columns declared with `EncryptedJSON` hold a Fernet token of a small JSON object; the
rotate command finds them by their type, so a new encrypted column needs no extra code.
Plaintext never leaves this module in an error message or a log line.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy.types import TypeDecorator

from portal.extensions import db
from portal.instance import instance_secret

DEV_KEY_FILE = "field-encryption.key"
ROTATE_BATCH = 500


class KeyConfigError(RuntimeError):
    """FIELD_ENCRYPTION_KEYS is missing or malformed: the portal cannot run like this."""


class DecryptionError(RuntimeError):
    """A stored value was encrypted with a key that is no longer configured."""


def parse_keys(raw: str) -> list[Fernet]:
    """The Fernet keys in `raw` (comma-separated, newest first); refuses a malformed one."""
    keys = [key.strip() for key in (raw or "").split(",") if key.strip()]
    if not keys:
        raise KeyConfigError("FIELD_ENCRYPTION_KEYS holds no key.")
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise KeyConfigError(
                f"FIELD_ENCRYPTION_KEYS: key {number} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `flask keys generate`)."
            ) from None
    return fernets


def field_cipher() -> MultiFernet:
    """The current app's MultiFernet, built once per key list."""
    app = current_app._get_current_object()
    raw = app.config.get("FIELD_ENCRYPTION_KEYS")
    if not raw:
        if app.config.get("ENV_NAME") == "production":
            raise KeyConfigError("FIELD_ENCRYPTION_KEYS must be set in production.")
        raw = _development_key(Path(app.instance_path))
    cache = app.extensions.setdefault("field_cipher", {})
    if raw not in cache:
        cache.clear()
        cache[raw] = MultiFernet(parse_keys(raw))
    return cache[raw]


def _development_key(instance: Path) -> str:
    return instance_secret(instance / DEV_KEY_FILE, lambda: Fernet.generate_key().decode())


def encrypt(text: str) -> str:
    return field_cipher().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return field_cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS: the key that "
            "encrypted it was removed before `flask keys rotate` ran."
        ) from None


class EncryptedJSON(TypeDecorator):
    """A small JSON object stored as a Fernet token (text) on every backend."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return json.loads(decrypt(value))


def encrypted_columns(metadata: sa.MetaData) -> list[tuple[sa.Table, sa.Column]]:
    return [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedJSON)
    ]


def rotate_all() -> int:
    """Re-encrypt every encrypted value with the newest key; flushes, never commits.

    Reads and writes the raw tokens (the column coerced to plain text), so values are
    never decrypted into Python objects; returns how many values were re-encrypted.
    """
    cipher = field_cipher()
    count = 0
    for table, column in encrypted_columns(db.metadata):
        count += _rotate_column(db.session, cipher, table, column)
    return count


def _rotate_column(session, cipher: MultiFernet, table: sa.Table, column: sa.Column) -> int:
    (pk,) = table.primary_key.columns
    raw = sa.type_coerce(column, sa.Text)
    # Only where the value is still the one read: a value changed meanwhile (a tutor saving
    # new bank details) is already under the newest key and must not be overwritten.
    update = (
        sa.update(table)
        .where(pk == sa.bindparam("_pk"), raw == sa.bindparam("_old", type_=sa.Text))
        .values({column.name: sa.bindparam("_token", type_=sa.Text)})
    )
    count, last = 0, None
    while True:
        query = sa.select(pk, raw).where(column.is_not(None)).order_by(pk).limit(ROTATE_BATCH)
        if last is not None:
            query = query.where(pk > last)
        rows = session.execute(query).all()
        if not rows:
            return count
        try:
            params = [
                {"_pk": key, "_old": token, "_token": _rotate(cipher, token)} for key, token in rows
            ]
        except InvalidToken:
            raise DecryptionError(
                f"{table.name}.{column.name}: a value was encrypted with a key that is not "
                "in FIELD_ENCRYPTION_KEYS; add the old key back (after the new one) and rerun."
            ) from None
        session.execute(update, params)
        count += len(rows)
        last = rows[-1][0]


def _rotate(cipher: MultiFernet, token: str) -> str:
    return cipher.rotate(token.encode()).decode()
