"""A paid lesson reaches the ledger, the invoice and the audit log whatever pages the app
serves: the payment path calls its effects, it does not wait for a views module to have
connected a receiver.

The app is built in a fresh interpreter, so no module imported by the rest of the suite
(the blueprints, their views) can help it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys

import sqlalchemy as sa

import portal
from portal.audit.models import AuditLog
from portal.extensions import db
from portal.invoices.services import invoice_of_payment
from portal.ledger.models import LedgerEntry
from portal.payments.effects import earning_key
from portal.payments.intents import new_lesson_payment
from portal.payments.outcome import apply_intent
from portal.providers.base import ProviderIntent

portal.register_blueprints = lambda app: None  # an app without a single page
app = portal.create_app(json.loads(sys.argv[1]))
with app.app_context():
    db.create_all()
    from tests.factories import BookingFactory

    lesson = BookingFactory()
    payment = new_lesson_payment(lesson.student, lesson, way="card")
    payment.provider_payment_id = "pi_without_pages"
    intent = ProviderIntent(
        id="pi_without_pages", status="succeeded", amount=payment.amount, currency="usd",
        latest_charge="ch_without_pages",
    )
    apply_intent(payment, intent)
    db.session.commit()
    entry = db.session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == earning_key(payment))
    )
    invoice = invoice_of_payment(payment.id)
    print(json.dumps({
        "pages": sorted(app.blueprints),
        "views_loaded": sorted(
            name for name in sys.modules
            if name.startswith("portal.") and name.rsplit(".", 1)[1] in ("views", "admin")
        ),
        "lesson": lesson.status,
        "ledger": entry is not None and entry.payment_id == payment.id,
        "invoice": invoice is not None and (invoice.status, invoice.total),
        "audit": [row.action for row in db.session.scalars(sa.select(AuditLog))],
    }))
"""


def test_a_paid_lesson_reaches_ledger_invoice_and_audit_without_blueprints(tmp_path):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'no-pages.sqlite3'}",
        "CELERY_BROKER_URL": None,
        "CELERY_RESULT_BACKEND": None,
        "MAIL_SUPPRESS_SEND": True,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["pages"] == [] and seen["views_loaded"] == []
    assert seen["lesson"] == "scheduled"
    assert seen["ledger"] is True
    assert seen["invoice"] == ["paid", 4500]
    assert seen["audit"] == ["payment.succeeded"]
