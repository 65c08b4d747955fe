"""The demo: the demo tutor can withdraw at once, and loading twice changes nothing."""

from portal.accounts.services import get_user_by_email
from portal.demo import load_demo
from portal.extensions import db
from portal.payouts.destinations import bank_last4_for
from tests.payouts.conftest import figures
from tests.support.ledger import assert_ledger_ok


def test_demo_tutor_has_money_to_withdraw_and_a_bank_account():
    for _ in range(2):
        load_demo()
        db.session.commit()
    tutor = get_user_by_email("tutor@m4sh.app")
    # Three past lessons at $45/hour: 60, 90 and 60 minutes, less the 15% fee.
    assert figures(tutor.id) == {"available": 3825 + 5737 + 3825, "in_flight": 0, "withdrawn": 0}
    assert bank_last4_for(tutor.id) == "3000"
    assert_ledger_ok()
