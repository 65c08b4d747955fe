"""Tasks queued for after a commit: a broker that is down must not turn a committed change
into an error."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError

from portal.after_commit import enqueue_after_commit
from portal.extensions import db
from portal.invoices.tasks import send_payment_receipt
from tests.factories import UserFactory


def test_an_unreachable_broker_after_commit_is_logged_not_raised(monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(send_payment_receipt, "delay", broker_down)
    user = UserFactory(role="student")
    enqueue_after_commit(send_payment_receipt, 1)
    with caplog.at_level(logging.WARNING):
        db.session.commit()  # no exception: the change is committed
    assert "send_payment_receipt not queued" in caplog.text
    db.session.rollback()  # the session is usable again
    assert db.session.get(type(user), user.id) is not None
