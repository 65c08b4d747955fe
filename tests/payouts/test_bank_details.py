"""Bank details: checked, encrypted at rest, masked everywhere, rotated with the keys."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from portal import create_app
from portal.audit.models import AuditLog
from portal.config import Config
from portal.crypto import DEV_KEY_FILE, KeyConfigError, field_cipher, parse_keys
from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.payouts import destinations
from portal.payouts.models import PayoutDestination, PayoutRequest
from portal.payouts.requesting import request_payout
from tests import factories
from tests.payouts.conftest import KEY, credit

IBAN = "GB82WEST12345698765432"
HOLDER = "Hannelore Kontoinhaber"
BANK_NAME = "Westminster Savings"
ACCOUNT = "000123456789"
ROUTING = "111000025"


def _save_iban(tutor):
    destinations.update_bank_details(
        tutor.id, bank_account_holder=HOLDER, bank_name=BANK_NAME, bank_iban=IBAN
    )
    db.session.commit()


def _raw_rows(table: str) -> list[str]:
    return list(db.session.scalars(sa.text(f"SELECT bank_details FROM {table}")))  # noqa: S608


def test_details_are_ciphertext_in_the_database(tutor):
    _save_iban(tutor)
    (token,) = _raw_rows("payout_destinations")
    for secret in (IBAN, HOLDER, BANK_NAME, "65432"):
        assert secret not in token
    stored = json.loads(Fernet(KEY).decrypt(token.encode()))
    assert stored == {"holder": HOLDER, "bank_name": BANK_NAME, "country": "GB", "iban": IBAN}
    destination = db.session.scalar(sa.select(PayoutDestination))
    assert destination.bank_last4 == "5432" and destination.bank_kind == "iban"
    assert destinations.bank_last4_for(tutor.id) == "5432"


def test_the_payout_keeps_an_encrypted_snapshot(tutor):
    _save_iban(tutor)
    credit(tutor, 5000)
    payout = request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    (token,) = _raw_rows("payout_requests")
    assert IBAN not in token and HOLDER not in token
    assert payout.destination == "IBAN •••• 5432"
    # A later change of account does not redirect money already asked for.
    destinations.update_bank_details(tutor.id, bank_iban="DE89370400440532013000")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).bank_details["iban"] == IBAN


def test_api_and_pages_show_only_the_last_four(app, tutor, browser, bearer, client, admin):
    _save_iban(tutor)
    credit(tutor, 5000)
    request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    bodies = []
    tutor_browser = browser(tutor)
    for url in ("/payouts", "/payouts/settings", "/earnings"):
        page = tutor_browser.get(url)
        assert page.status_code == 200, url
        bodies.append(page.get_data(as_text=True))
    assert "•••• 5432" in bodies[1]
    admin_browser = browser(admin)
    for url in ("/admin/payouts", "/admin/audit"):
        bodies.append(admin_browser.get(url).get_data(as_text=True))
    assert "IBAN •••• 5432" in bodies[-2]
    wallet = client.get("/api/v1/wallet/", headers=bearer(tutor))
    assert wallet.json["bank_last4"] == "5432"
    bodies.append(wallet.get_data(as_text=True))
    bodies.append(client.get("/api/v1/payouts/", headers=bearer(tutor)).get_data(as_text=True))
    with app.app_context():
        admin_list = client.get("/api/v1/admin/payouts/", headers=bearer(admin))
        bodies.append(admin_list.get_data(as_text=True))
    assert admin_list.json["results"][0]["destination"] == "IBAN •••• 5432"
    for body in bodies:
        for secret in (IBAN, "GB82 WEST", HOLDER, BANK_NAME):
            assert secret not in body


def test_wallet_settings_endpoint_takes_bank_fields(client, tutor, bearer):
    headers = bearer(tutor)
    response = client.patch(
        "/api/v1/wallet/settings/",
        json={
            "bank_account_holder": HOLDER,
            "bank_name": "First Platypus Bank",
            "bank_country": "us",
            "bank_account_number": "0001-2345-6789",
            "bank_routing_number": ROUTING,
            "stripe_account_id": "acct_1QUwQ2PxbDsyrmbL",
            "payout_threshold": 5000,
        },
        headers=headers,
    )
    assert response.status_code == 200, response.json
    body = response.get_data(as_text=True)
    assert response.json["bank_last4"] == "6789" and response.json["payout_threshold"] == 5000
    assert ACCOUNT not in body and ROUTING not in body and HOLDER not in body
    destination = db.session.scalar(sa.select(PayoutDestination))
    assert destination.bank_details["account_number"] == ACCOUNT
    assert destination.bank_details["country"] == "US"
    assert destination.stripe_account_id == "acct_1QUwQ2PxbDsyrmbL"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"bank_iban": "GB82WEST12345698765431"}, "bank_iban"),  # check digits
        ({"bank_iban": "GB82WEST123456987654"}, "bank_iban"),  # length
        ({"bank_iban": "XX82WEST12345698765432"}, "bank_iban"),  # country
        ({"bank_iban": 12345}, "bank_iban"),
        ({"bank_iban": IBAN, "bank_country": "DE"}, "bank_country"),
        ({"bank_iban": IBAN, "bank_account_number": ACCOUNT}, "bank_iban"),
        ({"bank_iban": IBAN, "bank_country": "ZZ"}, "bank_country"),
        (
            {"bank_account_number": ACCOUNT, "bank_routing_number": "111000026"},
            "bank_routing_number",
        ),  # fmt: skip
        ({"bank_account_number": "12ab", "bank_routing_number": ROUTING}, "bank_account_number"),
        ({"bank_account_number": ACCOUNT}, "bank_routing_number"),
        (
            {"bank_account_number": ACCOUNT, "bank_routing_number": ROUTING, "bank_country": "FR"},
            "bank_country",
        ),  # fmt: skip
        ({"bank_account_holder": "A"}, "bank_account_holder"),
        ({"bank_account_holder": "x" * 101}, "bank_account_holder"),
        ({"bank_name": ["Bank"]}, "bank_name"),
        ({"stripe_account_id": "acct_"}, "stripe_account_id"),
        ({"stripe_account_id": "cus_1QUwQ2PxbDsyrmbL"}, "stripe_account_id"),
        ({"stripe_account_id": 7}, "stripe_account_id"),
        ({"bank_swift": "DEUTDEFF"}, "bank_swift"),
    ],
)
def test_bad_details_are_refused_and_nothing_is_written(client, tutor, bearer, fields, field):
    complete = {"bank_account_holder": HOLDER, "bank_name": BANK_NAME}
    response = client.patch("/api/v1/wallet/settings/", json={**complete, **fields},
                            headers=bearer(tutor))  # fmt: skip
    assert response.status_code == 400, response.json
    assert field in response.json["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutDestination)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_incomplete_details_name_what_is_missing(tutor):
    with pytest.raises(ValidationError) as refused:
        destinations.update_bank_details(tutor.id, bank_iban=IBAN)
    assert set(refused.value.fields) == {"bank_account_holder", "bank_name"}


def test_partial_changes_keep_the_rest_and_switching_kind_replaces_the_account(tutor):
    _save_iban(tutor)
    destinations.update_bank_details(tutor.id, bank_name="Renamed Bank")
    db.session.commit()
    details = db.session.scalar(sa.select(PayoutDestination)).bank_details
    assert details["iban"] == IBAN and details["bank_name"] == "Renamed Bank"
    destinations.update_bank_details(
        tutor.id, bank_country="US", bank_account_number=ACCOUNT, bank_routing_number=ROUTING
    )
    db.session.commit()
    db.session.expire_all()
    destination = db.session.scalar(sa.select(PayoutDestination))
    assert "iban" not in destination.bank_details
    assert (destination.bank_kind, destination.bank_last4) == ("account", "6789")


def test_the_audit_log_gets_the_change_masked(tutor):
    _save_iban(tutor)
    destinations.update_bank_details(tutor.id, stripe_account_id="acct_1QUwQ2PxbDsyrmbL")
    db.session.commit()
    entries = list(db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)))
    assert [e.action for e in entries] == ["payout_destination.updated"] * 2
    assert entries[0].after["bank"] == "IBAN •••• 5432"
    assert entries[0].after["stripe_account"] is None
    assert entries[1].after["stripe_account"] == "Stripe acct_…rmbL"
    assert IBAN not in json.dumps([e.before for e in entries] + [e.after for e in entries])


def test_only_tutors_have_bank_details():
    student = factories.UserFactory(role="student")
    with pytest.raises(NotFound):
        destinations.update_bank_details(student.id, bank_name="Some Bank")


def test_details_never_reach_the_logs(app, tutor, login, caplog):
    caplog.set_level(logging.DEBUG)
    # Every SQL statement with its parameters, too (SQLAlchemy's loggers start at WARN).
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    browser = login(tutor)
    response = browser.post(
        "/payouts/settings/bank",
        {"bank_account_holder": HOLDER, "bank_name": BANK_NAME, "bank_country": "GB",
         "account_kind": "iban", "bank_iban": IBAN},
    )  # fmt: skip
    assert response.status_code == 302
    browser.post("/payouts/settings/bank", {"account_kind": "iban", "bank_iban": IBAN[:-1] + "1"})
    credit(tutor, 5000)
    browser.post("/payouts", {"amount": "20", "payout_method": "bank_transfer"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "payout_destinations" in logged, "the SQL log should be there to inspect"
    for secret in (IBAN, IBAN[:-1] + "1", HOLDER, BANK_NAME):
        assert secret not in logged


# --- keys -----------------------------------------------------------------------------


def test_rotate_then_drop_the_old_key(app, tutor, monkeypatch):
    old, new = KEY, Fernet.generate_key().decode()
    _save_iban(tutor)
    credit(tutor, 5000)
    request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    before = _raw_rows("payout_destinations") + _raw_rows("payout_requests")

    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", f"{new},{old}")
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 value(s)" in result.output

    after = _raw_rows("payout_destinations") + _raw_rows("payout_requests")
    assert all(a != b for a, b in zip(after, before, strict=True))
    for token in after:
        Fernet(new).decrypt(token.encode())
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(token.encode())

    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", new)
    db.session.expire_all()
    assert db.session.scalar(sa.select(PayoutDestination)).bank_details["iban"] == IBAN
    assert db.session.scalar(sa.select(PayoutRequest)).bank_details["holder"] == HOLDER
    assert db.session.scalar(sa.select(AuditLog.action).order_by(AuditLog.id.desc()).limit(1)) == (
        "keys.rotated"
    )


def test_rotate_refuses_when_a_value_has_no_key(app, tutor, monkeypatch):
    _save_iban(tutor)
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code != 0
    assert "add the old key back" in result.output
    assert IBAN not in result.output


def test_development_key_file_is_made_once(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", None)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    token = field_cipher().encrypt(b"x")
    key_file = tmp_path / DEV_KEY_FILE
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    assert Fernet(key_file.read_text().strip()).decrypt(token) == b"x"
    assert field_cipher().decrypt(token) == b"x"


def test_production_refuses_to_start_without_keys(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s3cret-for-the-test")
    monkeypatch.delenv("FIELD_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(RuntimeError, match="FIELD_ENCRYPTION_KEYS"):
        create_app()
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", KEY)
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    Config().validate()


def test_malformed_keys_stop_the_start(monkeypatch):
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", f"{KEY},not-a-key")
    with pytest.raises(KeyConfigError, match="key 2"):
        Config().validate()
    with pytest.raises(KeyConfigError):
        parse_keys(" , ")


def test_rotating_never_writes_back_a_value_changed_while_it_ran(app, tutor, monkeypatch):
    import portal.crypto as crypto

    old, new = KEY, Fernet.generate_key().decode()
    _save_iban(tutor)
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", f"{new},{old}")
    fresh = crypto.field_cipher().encrypt(b'{"iban": "changed meanwhile"}').decode()
    real_rotate = crypto._rotate

    def rotate_while_the_tutor_saves(cipher, token):
        # The tutor's save lands between the rotation's read and its write.
        db.session.execute(
            sa.text("UPDATE payout_destinations SET bank_details = :fresh"), {"fresh": fresh}
        )
        return real_rotate(cipher, token)

    monkeypatch.setattr(crypto, "_rotate", rotate_while_the_tutor_saves)
    crypto.rotate_all()
    db.session.commit()
    assert _raw_rows("payout_destinations") == [fresh]
