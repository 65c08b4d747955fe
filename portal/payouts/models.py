"""Payout requests and where a tutor's payouts go.

`PayoutRequest` follows the payout state machine (the table is
`portal.payouts.transitions.TRANSITIONS`). Each request keeps a snapshot of its destination:
the masked text people see, and for a bank transfer the encrypted bank details as they
were when the tutor asked, so a later change of bank account never redirects money
already on its way.

`PayoutDestination` holds one tutor's bank details (encrypted, see `portal.crypto`) and
Stripe connected account id. Only the last four characters of the account are stored in
the clear, for display.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.crypto import EncryptedJSON
from portal.db import UTCDateTime, new_uuid, one_of, utcnow
from portal.extensions import db


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PayoutMethod(enum.StrEnum):
    BANK_TRANSFER = "bank_transfer"
    STRIPE = "stripe"


METHOD_LABELS = {PayoutMethod.BANK_TRANSFER: "Bank transfer", PayoutMethod.STRIPE: "Stripe"}
OPEN_STATUSES = (PayoutStatus.PENDING, PayoutStatus.APPROVED, PayoutStatus.PROCESSING)


class PayoutRequest(db.Model):
    __tablename__ = "payout_requests"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    wallet_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("tutor_wallets.id"))
    tutor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=PayoutStatus.PENDING)
    payout_method: so.Mapped[str] = so.mapped_column(sa.String(16))
    # What people see of the destination, e.g. "IBAN •••• 3000" or "Stripe acct_…q2Xb".
    destination: so.Mapped[str] = so.mapped_column(sa.String(80))
    # Deferred: lists and queues never decrypt what they do not show.
    bank_details: so.Mapped[dict | None] = so.mapped_column(EncryptedJSON, deferred=True)
    stripe_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    provider_transfer_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    bank_reference: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    failure_reason: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    # Requested by the daily auto-payout task; its key makes that task idempotent.
    auto: so.Mapped[bool] = so.mapped_column(default=False)
    request_key: so.Mapped[str | None] = so.mapped_column(sa.String(100), unique=True)

    requested_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    approved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    processed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    completed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    failed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    cancelled_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    approved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    failed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    cancelled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    tutor: so.Mapped[User] = so.relationship(foreign_keys=[tutor_id])

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(one_of("status", PayoutStatus), name="status"),
        sa.CheckConstraint(one_of("payout_method", PayoutMethod), name="payout_method"),
        # The admin queue: one status, oldest first.
        sa.Index("ix_payout_requests_status_created", "status", "created_at", "id"),
        # A tutor's own list, newest first.
        sa.Index("ix_payout_requests_tutor_id_id", "tutor_id", "id"),
    )

    @property
    def method_label(self) -> str:
        return METHOD_LABELS.get(self.payout_method, self.payout_method)

    def __repr__(self) -> str:
        return f"<PayoutRequest {self.uuid} {self.status} {self.amount}>"


class PayoutDestination(db.Model):
    __tablename__ = "payout_destinations"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    tutor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), unique=True)
    # {"holder", "bank_name", "country", and "iban" or "account_number" + "routing_number"}
    bank_details: so.Mapped[dict | None] = so.mapped_column(EncryptedJSON, deferred=True)
    bank_kind: so.Mapped[str | None] = so.mapped_column(sa.String(8))  # "iban" or "account"
    bank_last4: so.Mapped[str | None] = so.mapped_column(sa.String(4))
    stripe_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("bank_kind IS NULL OR bank_kind IN ('iban', 'account')", name="kind"),
    )

    @property
    def has_bank(self) -> bool:
        return self.bank_last4 is not None

    def __repr__(self) -> str:
        return f"<PayoutDestination tutor={self.tutor_id}>"
