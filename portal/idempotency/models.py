"""The keys clients sent with `Idempotency-Key`, and the answers they got."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.crypto import EncryptedJSON
from portal.db import UTCDateTime, utcnow
from portal.extensions import db

MAX_ENDPOINT_LENGTH = 255


class IdempotencyKey(db.Model):
    """One key of one user: the request it came with (method and path, and the SHA-256 of
    its body) and, once that request's work committed, the answer to replay.

    `status_code` is None while the first request is under way. The answer's body is
    encrypted at rest: it may hold a client secret or a masked bank account."""

    __tablename__ = "idempotency_keys"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: so.Mapped[str] = so.mapped_column(sa.String(64))
    endpoint: so.Mapped[str] = so.mapped_column(sa.String(MAX_ENDPOINT_LENGTH))
    request_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    status_code: so.Mapped[int | None] = so.mapped_column()
    answer: so.Mapped[dict | None] = so.mapped_column(EncryptedJSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    answered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    def __repr__(self) -> str:
        return f"<IdempotencyKey {self.user_id}:{self.key} {self.status_code}>"
