"""Tutors hear by e-mail (a real SMTP server, aiosmtpd) when a payout is sent or fails."""

from __future__ import annotations

from portal.extensions import db
from portal.payouts import processing, requesting
from tests.payouts.conftest import IBAN, credit


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_a_sent_payout_is_mailed_with_the_reference_and_no_account_number(bank_tutor, admin, inbox):
    credit(bank_tutor, 5000)
    payout = requesting.request_payout(bank_tutor, amount=3000, payout_method="bank_transfer")
    processing.approve_payout(admin, payout.uuid)
    processing.process_payout(admin, payout.uuid)
    db.session.commit()
    assert inbox == []  # asked, approved, processing: shown on the page, not mailed
    processing.complete_payout(admin, payout.uuid, reference="BANK-REF-77")
    db.session.commit()
    [message] = inbox
    assert message["To"] == bank_tutor.email
    assert message["Subject"] == "Your payout of $30.00 is on its way"
    body = _body(message)
    assert "BANK-REF-77" in body and payout.destination in body
    compact = IBAN.replace(" ", "")
    assert compact not in message.as_string() and compact[-8:] not in message.as_string()


def test_a_failed_payout_is_mailed_with_the_reason(bank_tutor, admin, inbox):
    credit(bank_tutor, 5000)
    payout = requesting.request_payout(bank_tutor, amount=3000, payout_method="bank_transfer")
    processing.fail_payout(admin, payout.uuid, reason="The account holder's name does not match")
    db.session.commit()
    [message] = inbox
    assert message["Subject"] == "Your payout of $30.00 could not be made"
    body = _body(message)
    assert "does not match" in body and "back in your available balance" in body


def test_a_rolled_back_change_mails_nothing(bank_tutor, admin, inbox):
    credit(bank_tutor, 5000)
    payout = requesting.request_payout(bank_tutor, amount=3000, payout_method="bank_transfer")
    db.session.commit()
    processing.fail_payout(admin, payout.uuid, reason="Not sure")
    db.session.rollback()
    assert inbox == []
