"""Every change of a bank field is audited by fingerprint (never the value), and the tutor
is e-mailed (a real SMTP server) whenever the payout destination changes."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.extensions import db
from portal.payouts import destinations as bank

IBAN = "GB82WEST12345698765432"
SAME_LAST4 = "GB56BUKB20201555555432"  # another account, the same last four digits
HOLDER = "Hannelore Kontoinhaber"
BANK_NAME = "Westminster Savings"
STRIPE_ACCOUNT = "acct_1QUwQ2PxbDsyrmbL"


def _entries() -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "payout_destination.updated")
        .order_by(AuditLog.id)))  # fmt: skip


def _save(tutor, **fields):
    bank.update_bank_details(tutor.id, **fields)
    db.session.commit()


@pytest.fixture
def saved(tutor):
    _save(tutor, bank_account_holder=HOLDER, bank_name=BANK_NAME, bank_iban=IBAN)
    return tutor


@pytest.mark.parametrize(
    "change, field",
    [
        ({"bank_iban": SAME_LAST4}, "bank_iban"),
        ({"bank_account_holder": "Someone Else"}, "bank_account_holder"),
        ({"bank_name": "Another Bank"}, "bank_name"),
        ({"bank_account_number": "000123455432", "bank_routing_number": "111000025",
          "bank_country": "US"}, "bank_account_number"),
        ({"stripe_account_id": STRIPE_ACCOUNT}, "stripe_account_id"),
    ],
)  # fmt: skip
def test_every_change_of_a_bank_field_is_audited_by_fingerprint(saved, change, field):
    first = len(_entries())
    _save(saved, **change)
    entries = _entries()
    assert len(entries) == first + 1
    entry = entries[-1]
    assert field in entry.after["changed"]
    fingerprints_before = entry.before["fingerprints"]
    fingerprints_after = entry.after["fingerprints"]
    assert fingerprints_before[field] != fingerprints_after[field]
    written = json.dumps([entry.before, entry.after])
    for value in (*change.values(), IBAN, HOLDER, BANK_NAME, IBAN[-8:], "55555432"):
        if isinstance(value, str) and len(value) > 4:
            assert value not in written, value


def test_saving_the_same_details_again_is_no_change(saved, inbox):
    first = len(_entries())
    inbox.clear()
    _save(saved, bank_account_holder=HOLDER, bank_name=BANK_NAME, bank_iban=IBAN)
    assert len(_entries()) == first
    assert inbox == []


def test_a_fingerprint_is_keyed_and_short(app):
    from portal.fingerprints import fingerprint

    value = fingerprint(IBAN)
    assert value == fingerprint(IBAN) and value != fingerprint(SAME_LAST4)
    assert len(value) == 16 and IBAN not in value
    import hashlib

    assert value not in hashlib.sha256(IBAN.encode()).hexdigest()  # not a bare hash
    assert fingerprint(None) is None


def test_the_tutor_is_mailed_when_the_destination_changes(saved, inbox):
    inbox.clear()
    _save(saved, bank_iban=SAME_LAST4)
    [message] = inbox
    assert message["To"] == saved.email
    assert message["Subject"] == "Your payout details were changed"
    text = message.as_string()
    assert "IBAN •••• 5432" in message.get_body(("plain",)).get_content()
    assert SAME_LAST4 not in text and IBAN not in text and "55555432" not in text


def test_a_new_stripe_account_is_mailed_too(saved, inbox):
    inbox.clear()
    _save(saved, stripe_account_id=STRIPE_ACCOUNT)
    [message] = inbox
    assert "acct_…rmbL" in message.get_body(("plain",)).get_content()
    assert STRIPE_ACCOUNT not in message.as_string()


def test_a_rolled_back_change_mails_nothing(saved, inbox):
    inbox.clear()
    bank.update_bank_details(saved.id, bank_iban=SAME_LAST4)
    db.session.rollback()
    assert inbox == []
    assert all("changed" not in e.after or "bank_iban" not in e.after["changed"]
               for e in _entries()[1:])  # fmt: skip


def test_changes_through_the_api_are_audited_and_mailed(client, saved, bearer, inbox):
    inbox.clear()
    response = client.patch("/api/v1/wallet/settings/", headers=bearer(saved),
                            json={"bank_account_holder": "New Holder"})  # fmt: skip
    assert response.status_code == 200
    assert "bank_account_holder" in _entries()[-1].after["changed"]
    assert len(inbox) == 1
