"""A change of a tutor's payout destination: audited field by field, and mailed.

The comparison is of the real values, before anything is masked: a new IBAN with the
same last four digits, or only a new holder or bank name, is a change. The audit row
names the fields that changed and holds their fingerprints before and after
(`portal.fingerprints`), with the masked destination as shown elsewhere; never a value.
The tutor is e-mailed once the change commits, so a payout redirected by somebody else
does not go unnoticed.
"""

from __future__ import annotations

from celery import shared_task

from portal import emails
from portal.accounts.models import User
from portal.after_commit import enqueue_after_commit
from portal.audit.services import record
from portal.extensions import db
from portal.fingerprints import fingerprint
from portal.payouts.models import PayoutDestination
from portal.rendering import portal_url

MAIL_RETRIES = 5
SUBJECT = "Your payout details were changed"
# Setting field -> key in the encrypted bank details (None: a column of its own).
FIELDS = {
    "bank_account_holder": "holder",
    "bank_name": "bank_name",
    "bank_country": "country",
    "bank_iban": "iban",
    "bank_account_number": "account_number",
    "bank_routing_number": "routing_number",
    "stripe_account_id": None,
}
LABELS = {
    "bank_account_holder": "account holder",
    "bank_name": "bank name",
    "bank_country": "bank country",
    "bank_iban": "IBAN",
    "bank_account_number": "account number",
    "bank_routing_number": "routing number",
    "stripe_account_id": "Stripe account",
}


def values_of(destination: PayoutDestination | None) -> dict[str, str | None]:
    """Every destination field's real value (None when unset)."""
    details = (destination.bank_details if destination is not None else None) or {}
    values = {field: details.get(key) for field, key in FIELDS.items() if key}
    values["stripe_account_id"] = destination.stripe_account_id if destination else None
    return values


def record_change(
    tutor_id: int, before: dict, after: dict, masked_before: dict, masked_after: dict
) -> list[str]:
    """Audit and mail a change of any field; the fields that changed (none: nothing)."""
    changed = [field for field in FIELDS if before.get(field) != after.get(field)]
    if not changed:
        return []
    record(
        "payout_destination.updated",
        object_type="tutor",
        object_id=tutor_id,
        actor_id=tutor_id,
        before={**masked_before, "fingerprints": _prints(before, changed)},
        after={**masked_after, "changed": changed, "fingerprints": _prints(after, changed)},
    )
    enqueue_after_commit(send_destination_notice, tutor_id, changed, masked_after)
    return changed


def _prints(values: dict, fields: list[str]) -> dict[str, str | None]:
    return {field: fingerprint(values.get(field)) for field in fields}


@shared_task(
    bind=True, name="send_destination_notice", max_retries=MAIL_RETRIES, ignore_result=True
)
def send_destination_notice(self, tutor_id: int, changed: list[str], masked: dict) -> bool:
    return emails.send_with_retries(
        self,
        lambda: notify_tutor(tutor_id, changed, masked),
        f"destination change notice to tutor {tutor_id}",
    )


def notify_tutor(tutor_id: int, changed: list[str], masked: dict) -> bool:
    """Tell the tutor which details changed and where payouts now go (`masked`: the
    destination as the settings page shows it)."""
    tutor = db.session.get(User, tutor_id)
    if tutor is None:
        return False
    emails.send(
        "destination_changed",
        subject=SUBJECT,
        to=[tutor.email],
        tutor=tutor,
        changed=[LABELS[field] for field in changed if field in LABELS],
        bank=masked.get("bank"),
        stripe=masked.get("stripe_account"),
        settings_url=portal_url("payouts.settings"),
    )
    return True
