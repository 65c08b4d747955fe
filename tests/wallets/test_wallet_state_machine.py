"""A stateful property test: any sequence of money movements keeps every invariant.

Hypothesis drives earn / complete+release / refund / failed refund / credit / debit /
payout steps (and replays of old keys) against a plain-Python model of what the wallet
should show; after every step the ledger check must pass and the wallet must equal the
model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.errors import InsufficientFunds
from portal.extensions import db
from portal.money import split_fee, split_refund
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.refunds import process_refund_deduction, reverse_refund_deduction
from tests import factories
from tests.support.ledger import assert_ledger_ok
from tests.wallets.conftest import figures

amounts = st.integers(min_value=1, max_value=200_000)


@dataclass
class Paid:
    payment_id: int
    booking_id: int
    gross: int
    fee: int
    pending: int  # still pending of the net
    refunded: int = 0
    fee_refunded: int = 0
    completed: bool = False
    released: bool = False  # a release entry exists: nothing goes back to pending


@dataclass
class Refunded:
    key: str
    paid: Paid
    amount: int
    fee_part: int
    from_pending: int


def reset_database() -> None:
    db.session.rollback()
    engine = db.engine
    tables = db.metadata.sorted_tables
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


class WalletMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        reset_database()
        self.tutor = factories.UserFactory(role="tutor")
        self.student = factories.UserFactory(role="student")
        self.model = dict(pending=0, available=0, in_flight=0, earned=0, withdrawn=0)
        self.paid: list[Paid] = []
        self.payouts: dict[int, int] = {}  # payout id -> amount in flight
        self.refunds: list[Refunded] = []  # not reversed yet
        self.keys: list[tuple[str, dict]] = []  # (key, call) to replay
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _call(self, fn, **kwargs):
        result = fn(**kwargs)
        db.session.commit()
        self.keys.append((fn, kwargs))
        return result

    @rule(gross=st.integers(min_value=1, max_value=200_000))
    def earn(self, gross):
        n = self._next()
        booking = factories.BookingFactory(
            tutor=self.tutor, student=self.student, status=BookingStatus.SCHEDULED, price=gross
        )
        split = split_fee(gross)
        self._call(
            process_lesson_earning,
            tutor_id=self.tutor.id,
            gross=gross,
            fee=split.fee,
            idempotency_key=f"payment:{n}:captured",
            booking_id=booking.id,
            payment_id=n,
        )
        self.paid.append(Paid(n, booking.id, gross, split.fee, split.net))
        self.model["pending"] += split.net
        self.model["earned"] += split.net

    @precondition(lambda self: self.paid)
    @rule(data=st.data())
    def complete_and_release(self, data):
        paid = data.draw(st.sampled_from(self.paid))
        from portal.bookings.models import Booking

        booking = db.session.get(Booking, paid.booking_id)
        booking.status = BookingStatus.COMPLETED
        booking.completed_at = utcnow() - timedelta(days=8)
        db.session.commit()
        paid.completed = True
        due = [p for p in self.paid if p.completed and p.pending > 0]
        released = release_pending_earnings()
        db.session.commit()
        assert released == len(due)
        for p in due:
            self.model["pending"] -= p.pending
            self.model["available"] += p.pending
            p.pending = 0
            p.released = True

    @precondition(lambda self: any(p.refunded < p.gross for p in self.paid))
    @rule(data=st.data())
    def refund(self, data):
        paid = data.draw(st.sampled_from([p for p in self.paid if p.refunded < p.gross]))
        amount = data.draw(st.integers(min_value=1, max_value=paid.gross - paid.refunded))
        split = split_refund(
            amount,
            amount=paid.gross,
            fee=paid.fee,
            refunded=paid.refunded,
            fee_refunded=paid.fee_refunded,
        )
        self._call(
            process_refund_deduction,
            tutor_id=self.tutor.id,
            refund=amount,
            fee_part=split.fee,
            idempotency_key=(key := f"refund:{self._next()}"),
            payment_id=paid.payment_id,
            booking_id=paid.booking_id,
        )
        paid.refunded += amount
        paid.fee_refunded += split.fee
        from_pending = min(split.net, paid.pending)
        self.refunds.append(Refunded(key, paid, amount, split.fee, from_pending))
        paid.pending -= from_pending
        self.model["pending"] -= from_pending
        self.model["available"] -= split.net - from_pending
        self.model["earned"] -= split.net

    @precondition(lambda self: self.refunds)
    @rule(data=st.data())
    def refund_fails(self, data):
        """The provider could not pay a refund out: its deduction is reversed."""
        refunded = data.draw(st.sampled_from(self.refunds))
        self.refunds.remove(refunded)
        self._call(
            reverse_refund_deduction,
            tutor_id=self.tutor.id,
            refund_key=refunded.key,
            idempotency_key=f"{refunded.key}:reversed",
        )
        paid, net = refunded.paid, refunded.amount - refunded.fee_part
        to_pending = 0 if paid.released else refunded.from_pending
        paid.refunded -= refunded.amount
        paid.fee_refunded -= refunded.fee_part
        paid.pending += to_pending
        self.model["pending"] += to_pending
        self.model["available"] += net - to_pending
        self.model["earned"] += net

    @rule(amount=amounts)
    def credit(self, amount):
        self._call(
            credit_wallet,
            tutor_id=self.tutor.id,
            amount=amount,
            reason="goodwill",
            idempotency_key=f"credit:{self._next()}",
        )
        self.model["available"] += amount

    @rule(amount=amounts)
    def debit(self, amount):
        key = f"debit:{self._next()}"
        if amount > self.model["available"]:
            try:
                debit_wallet(
                    tutor_id=self.tutor.id, amount=amount, reason="fix", idempotency_key=key
                )
            except InsufficientFunds:
                db.session.rollback()
                return
            raise AssertionError("an overdraft was allowed")
        self._call(
            debit_wallet,
            tutor_id=self.tutor.id,
            amount=amount,
            reason="fix",
            idempotency_key=key,
        )
        self.model["available"] -= amount

    @rule(amount=amounts)
    def request_payout(self, amount):
        payout_id = self._next()
        key = f"payout:{payout_id}:reserve"
        if self.model["available"] < 0 or amount > self.model["available"]:
            try:
                reserve_payout(
                    tutor_id=self.tutor.id, amount=amount, idempotency_key=key, payout_id=payout_id
                )
            except InsufficientFunds:
                db.session.rollback()
                return
            raise AssertionError("a payout beyond the available balance was reserved")
        self._call(
            reserve_payout,
            tutor_id=self.tutor.id,
            amount=amount,
            idempotency_key=key,
            payout_id=payout_id,
        )
        self.payouts[payout_id] = amount
        self.model["available"] -= amount
        self.model["in_flight"] += amount

    @precondition(lambda self: self.payouts)
    @rule(data=st.data(), succeed=st.booleans())
    def settle_payout(self, data, succeed):
        payout_id = data.draw(st.sampled_from(sorted(self.payouts)))
        amount = self.payouts.pop(payout_id)
        fn = complete_payout_funds if succeed else release_payout_reservation
        self._call(
            fn,
            tutor_id=self.tutor.id,
            amount=amount,
            idempotency_key=f"payout:{payout_id}:settle",
            payout_id=payout_id,
        )
        self.model["in_flight"] -= amount
        if succeed:
            self.model["withdrawn"] += amount
        else:
            self.model["available"] += amount

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def replay(self, data):
        """A repeated webhook or double click: the same call again changes nothing."""
        fn, kwargs = data.draw(st.sampled_from(self.keys))
        fn(**kwargs)
        db.session.commit()

    @invariant()
    def ledger_and_model_agree(self):
        assert_ledger_ok()
        assert figures(self.tutor.id) == self.model


WalletMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_wallet_state_machine(app):
    WalletMachine.TestCase("runTest").runTest()
