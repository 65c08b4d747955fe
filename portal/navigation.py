"""The navigation bar by role: (endpoint, label) pairs, in order."""

from portal.payouts.nav import PendingPayoutsLabel
from portal.webhooks.nav import FailedWebhooksLabel

NAV = {
    "student": [
        ("bookings.my_lessons", "My lessons"),
        ("bookings.tutors", "Find a tutor"),
        ("subscriptions.mine", "Subscription"),
        ("payments.billing", "Billing"),
    ],
    "tutor": [
        ("bookings.my_lessons", "My lessons"),
        ("wallets.earnings", "Earnings"),
        ("payouts.index", "Payouts"),
    ],
    "admin": [
        ("admin.index", "Overview"),
        ("admin.lessons", "Lessons"),
        ("payments_admin.index", "Payments"),
        ("invoices_admin.index", "Invoices"),
        ("subscriptions_admin.subscriptions_index", "Subscriptions"),
        ("ledger_admin.index", "Ledger"),
        ("payouts_admin.index", PendingPayoutsLabel()),
        ("audit.index", "Audit log"),
        ("webhooks_admin.index", FailedWebhooksLabel()),
        ("system_admin.index", "System"),
    ],
}


def nav_items(user) -> list[tuple[str, str]]:
    return NAV.get(user.role, [])
