"""Imports every feature's tasks so the Celery app and `flask tasks run` know them."""

from portal.accounts import tasks as account_tasks  # noqa: F401
from portal.bookings import tasks as booking_tasks  # noqa: F401
from portal.invoices import tasks as invoice_tasks  # noqa: F401
from portal.payouts import notifications as payout_notifications  # noqa: F401
from portal.payouts import tasks as payout_tasks  # noqa: F401
from portal.system import tasks as system_tasks  # noqa: F401
from portal.wallets import tasks as wallet_tasks  # noqa: F401
from portal.webhooks import tasks as webhook_tasks  # noqa: F401
