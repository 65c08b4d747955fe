"""What the portal logs while money moves holds no secret: no password hash, API token,
bank number, card number, Stripe or webhook key, encryption key. The database engine
hides bound parameters, so even a failed statement or SQL logging shows none."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from portal.accounts.models import ApiToken, User
from portal.extensions import db
from tests import factories
from tests.support.localstripe import SECRET_KEY, VISA
from tests.webhooks.conftest import event_body, sign

pytestmark = pytest.mark.stripe

KEY = Fernet.generate_key().decode()
IBAN = "GB82WEST12345698765432"
ACCOUNT = "000123456789"
ROUTING = "111000025"
STRIPE_ACCOUNT = "acct_1QUwQ2PxbDsyrmbL"


class Everything(logging.Handler):
    """Every record any logger emits, formatted with its traceback and arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def all_logs(app, monkeypatch):
    """Everything logged during the test, SQL statement logging switched on as an operator
    chasing a problem would switch it on."""
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", KEY)
    handler = Everything()
    root = logging.getLogger()
    engine_log = logging.getLogger("sqlalchemy.engine")
    levels = (root.level, engine_log.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_log.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(levels[0])
    engine_log.setLevel(levels[1])


def _money_flows(app, client, login, anon, localstripe) -> dict[str, str]:
    """Sign up, pay, refund, set bank details, withdraw, receive a webhook, hit a database
    error; the secrets each step handled."""
    secrets: dict[str, str] = {}
    anon.post("/signup", {"name": "Ana", "email": "ana@example.com",
                          "password": "ana-long-password", "role": "student"})  # fmt: skip
    secrets["password"] = "ana-long-password"
    student = db.session.scalar(sa.select(User).where(User.email == "ana@example.com"))
    tutor = factories.UserFactory(role="tutor", hourly_rate=4500)
    admin = factories.UserFactory(role="admin")
    lesson = factories.BookingFactory(student=student, tutor=tutor)
    db.session.commit()

    from portal.accounts.tokens import issue_token

    token = issue_token(tutor)
    db.session.commit()
    secrets["api token"] = token
    tutor_api = {"Authorization": f"Bearer {token}"}

    browser = login(student, password="ana-long-password")
    location = browser.post(f"/billing/lessons/{lesson.id}/pay").headers["Location"]
    browser.post(location + "/confirm",
                 {"card": "new", "provider_method_id": localstripe.token(VISA)})  # fmt: skip
    payment_id = location.rsplit("/", 1)[1]
    login(admin).post(
        f"/admin/payments/{payment_id}/refund", {"amount": "5.00", "reason": "x", "confirm": "1"}
    )

    for change in (
        {"bank_account_holder": "Hannelore", "bank_name": "Westminster", "bank_iban": IBAN},
        {"bank_account_number": ACCOUNT, "bank_routing_number": ROUTING, "bank_country": "US"},
        {"stripe_account_id": STRIPE_ACCOUNT},
    ):
        response = client.patch("/api/v1/wallet/settings/", headers=tutor_api, json=change)
        assert response.status_code == 200, response.get_data(as_text=True)
    from portal.wallets.adjustments import credit_wallet

    credit_wallet(tutor_id=tutor.id, amount=5000, reason="test", idempotency_key="logs:credit")
    db.session.commit()
    asked = client.post("/api/v1/payouts/", headers=tutor_api,
                        json={"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    assert asked.status_code == 201, asked.get_data(as_text=True)

    webhook_secret = app.config["STRIPE_WEBHOOK_SECRET"].split(",")[0]
    body = json.dumps(
        event_body("customer.subscription.created", {"id": "sub_1", "object": "subscription"})
    )
    signed = {"Stripe-Signature": sign(body, webhook_secret), "Content-Type": "application/json"}
    assert client.post("/api/v1/webhooks/stripe/", data=body, headers=signed).status_code == 200
    secrets["webhook secret"] = webhook_secret

    # A statement that fails: the driver's error names the statement and, unless the
    # engine hides them, every bound value (here a password hash).
    try:
        duplicate = {"email": student.email, "name": "x", "role": "student"}
        db.session.execute(sa.insert(User).values(password_hash=student.password_hash, **duplicate))
    except sa.exc.IntegrityError:
        logging.getLogger("portal").exception("a database error")
    db.session.rollback()

    db.session.expire_all()
    for user in db.session.scalars(sa.select(User)):
        secrets[f"password hash of {user.email}"] = user.password_hash
    for row in db.session.scalars(sa.select(ApiToken)):
        secrets["token hash"] = row.token_hash
    secrets["token sha256"] = hashlib.sha256(token.encode()).hexdigest()
    secrets.update(iban=IBAN, account=ACCOUNT, card=VISA, stripe_key=SECRET_KEY,
                   fernet_key=KEY, stripe_account=STRIPE_ACCOUNT[-8:])  # fmt: skip
    return secrets


def test_money_flows_log_no_secret(app, client, login, anon, localstripe, all_logs):
    secrets = _money_flows(app, client, login, anon, localstripe)
    logged = "\n".join(all_logs.lines)
    assert "INSERT INTO" in logged  # the statements were logged, without their values
    assert "a database error" in logged
    for name, secret in secrets.items():
        assert secret not in logged, f"{name} is in the logs"


def test_the_engine_hides_bound_parameters(app):
    assert db.engine.hide_parameters is True
