"""/admin/ledger: what is owed, fee revenue, refunds, any account, and the check."""

import sqlalchemy as sa

from portal.extensions import db
from portal.wallets.adjustments import credit_wallet
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.refunds import process_refund_deduction


def _money_moved(tutor):
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="pay:1", payment_id=1
    )
    process_refund_deduction(
        tutor_id=tutor.id, refund=2000, fee_part=300, idempotency_key="ref:1", payment_id=1
    )
    credit_wallet(tutor_id=tutor.id, amount=500, reason="r", idempotency_key="c")
    db.session.commit()


def test_admin_sees_the_figures_and_the_check(app, login, admin, tutor):
    _money_moved(tutor)
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        html = browser.get("/admin/ledger/").get_data(as_text=True)
    assert "Owed in total" in html and "$26.25" in html  # 2125 pending + 500 available
    assert "Fee revenue" in html and "$3.75" in html  # 675 - 300
    assert "Refunds" in html and "$20.00" in html
    assert "provider_cash" in html and "pay:1" in html
    assert 'hx-trigger="load"' in html
    with app.app_context():
        check = browser.get(
            "/admin/ledger/?check=now", headers={"HX-Request": "true", "HX-Target": "ledger-check"}
        )
    assert "All invariants hold" in check.get_data(as_text=True)
    assert "<html" not in check.get_data(as_text=True)


def test_admin_looks_up_any_account(app, login, admin, tutor):
    _money_moved(tutor)
    with app.app_context():
        browser = login(admin)
    for query in (tutor.email, str(tutor.id), f"tutor:{tutor.id}:pending"):
        with app.app_context():
            html = browser.get("/admin/ledger/", query_string={"account": query}).get_data(
                as_text=True
            )
        assert f"tutor:{tutor.id}:pending" in html and "$21.25" in html, query
    with app.app_context():
        html = browser.get("/admin/ledger/?account=nobody").get_data(as_text=True)
    assert "No account or tutor matches" in html


def test_the_page_names_a_drift(app, login, admin, tutor):
    _money_moved(tutor)
    db.session.execute(sa.text("UPDATE tutor_wallets SET available = available + 1"))
    db.session.commit()
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        html = browser.get("/admin/ledger/?check=now").get_data(as_text=True)
    assert "invariants broken" in html and "wallet differs from its postings" in html


def test_only_admins(app, login, tutor, student):
    for user in (tutor, student):
        with app.app_context():
            browser = login(user)
        with app.app_context():
            assert browser.get("/admin/ledger/").status_code == 403
