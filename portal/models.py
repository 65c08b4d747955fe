"""Every feature's models, imported so metadata (and Alembic) sees all tables."""

from portal.accounts.models import (  # noqa: F401
    AccountSession,
    ApiToken,
    RecoveryCode,
    ServerSession,
    TwoFactorSecret,
    User,
)
from portal.audit.models import AuditLog  # noqa: F401
from portal.bookings.models import Booking  # noqa: F401
from portal.idempotency.models import IdempotencyKey  # noqa: F401
from portal.invoices.models import (  # noqa: F401
    CreditNote,
    CreditNoteCounter,
    Invoice,
    InvoiceCounter,
    InvoiceItem,
    InvoiceReminder,
)
from portal.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting  # noqa: F401
from portal.payments.models import Payment, PaymentMethod, Refund  # noqa: F401
from portal.payouts.models import PayoutDestination, PayoutRequest  # noqa: F401
from portal.subscriptions.models import Plan, Subscription, SubscriptionPeriod  # noqa: F401
from portal.system.models import TaskRun  # noqa: F401
from portal.wallets.models import TutorWallet, WalletMonth, WalletTransaction  # noqa: F401
from portal.webhooks.models import WebhookEvent  # noqa: F401
