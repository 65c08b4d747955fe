"""Which e-mails a user gets.

Some mails are part of the service and always go out, because the law or the safety of
the account expects them: a receipt or invoice for every payment (tax and consumer law
require the payer to get one), refunds and payouts (notices of money moving to or from
the user), a change of where payouts are sent, and password resets and changes. Their
senders do not ask this module.

The others are the user's choice, stored in `User.mail_preferences` by kind; a kind the
user never chose has its default. Anything promotional is off until the user turns it on
(opt-in consent, as e-mail marketing law asks in the EU and elsewhere). A sender of an
optional mail asks `wants_mail(user, kind)` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import Role, User
from portal.extensions import db


@dataclass(frozen=True)
class MailKind:
    key: str
    label: str
    help: str
    roles: frozenset[str]
    default: bool = True


ALL_ROLES = frozenset(Role)

# Sent whatever the preferences say; shown on the page with the reason.
REQUIRED = (
    MailKind(
        "receipts",
        "Payment receipts and invoices",
        "The law requires a receipt or invoice for every payment you make.",
        frozenset({Role.STUDENT}),
    ),
    MailKind(
        "refunds",
        "Refunds",
        "When money is returned to your card: a notice of a payment to you.",
        frozenset({Role.STUDENT}),
    ),
    MailKind(
        "payouts",
        "Payouts sent or failed",
        "When your money leaves your balance or comes back to it.",
        frozenset({Role.TUTOR}),
    ),
    MailKind(
        "payout_destination",
        "Changes to where payouts go",
        "So you notice at once if someone else changed your bank details.",
        frozenset({Role.TUTOR}),
    ),
    MailKind(
        "password",
        "Password reset links and changes",
        "A link only when you ask for one; a notice whenever your password changes.",
        ALL_ROLES,
    ),
)

# The user's choice.
OPTIONAL = (
    MailKind(
        "sign_in_alerts",
        "New sign-in alerts",
        "An e-mail when your account is signed in from a browser it has not been used on.",
        ALL_ROLES,
        default=True,
    ),
    MailKind(
        "news",
        "News and tips from M4SH",
        "New features and tips for teaching and learning, at most once a month.",
        ALL_ROLES,
        default=False,
    ),
)
OPTIONAL_KEYS = frozenset(kind.key for kind in OPTIONAL)


def required_for(user: User) -> list[MailKind]:
    return [kind for kind in REQUIRED if user.role in kind.roles]


def optional_for(user: User) -> list[MailKind]:
    return [kind for kind in OPTIONAL if user.role in kind.roles]


def wants_mail(user: User, key: str) -> bool:
    """Whether `user` gets mail of the optional kind `key` (its default if never chosen)."""
    kind = next(kind for kind in OPTIONAL if kind.key == key)
    if user.role not in kind.roles:
        return False
    return bool((user.mail_preferences or {}).get(key, kind.default))


def news_recipients() -> list[int]:
    """The ids of active users who turned news on (read in batches: the choice lives in a
    JSON column, which is compared in Python the same way on every database)."""
    query = sa.select(User).where(User.active.is_(True)).execution_options(yield_per=1000)
    return [user.id for user in db.session.scalars(query) if wants_mail(user, "news")]


def set_preferences(user: User, chosen: dict[str, bool]) -> None:
    """Store the user's choice for each optional kind in `chosen`; flushes.

    Every kind offered to the user is stored, so a later change of a default does not
    change what somebody chose."""
    offered = {kind.key for kind in optional_for(user)}
    unknown = set(chosen) - offered
    if unknown:
        raise ValueError(f"not an optional mail for this user: {sorted(unknown)}")
    # A new dict: the JSON column notices assignment, not changes inside it.
    stored = dict(user.mail_preferences or {})
    stored.update({key: bool(value) for key, value in chosen.items()})
    user.mail_preferences = stored
    db.session.flush()
