"""A stateful property test: whatever happens to subscriptions, the books stay right.

Hypothesis drives subscribe / book a covered lesson / cancel it / complete it / renew
(an invoice paid, sometimes reported twice) / change plan now (a proration invoice: the new
period carries the old one's unspent money) / payment failed / cancel (at the period end
or now) / expire, through the same functions the webhook events and the booking API
call, for two students with one tutor. After every step `flask ledger check` must pass,
and a plain-Python model of the quota must agree with the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import cancel_booking, complete_booking, create_booking
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.accounts import platform_balances
from portal.subscriptions import billing, events
from portal.subscriptions.models import Subscription, SubscriptionStatus
from portal.subscriptions.periods import current_period
from portal.subscriptions.sync import apply_provider_subscription
from tests import factories
from tests.subscriptions.money_support import make_plan
from tests.support.ledger import assert_ledger_ok
from tests.wallets.test_wallet_state_machine import reset_database

S = SubscriptionStatus
DAY = 86400


@dataclass
class Student:
    user_id: int
    subscription_id: int | None = None
    status: str | None = None
    allowed: int = 0
    used: int = 0
    period_start: int = 0  # seconds since the epoch
    cancel_at_period_end: bool = False
    lessons: list[int] = field(default_factory=list)  # covered bookings still scheduled


class SubscriptionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        reset_database()
        self.tutor = factories.UserFactory(role="tutor")
        self.admin = factories.UserFactory(role="admin")
        self.plans = [make_plan(price=20000, lessons=3), make_plan(price=4999, lessons=4)]
        self.students = [Student(factories.UserFactory(role="student").id) for _ in range(2)]
        self.cash = 0
        self.n = 0
        self.slot = 0
        db.session.commit()

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _stripe_subscription(self, who: Student, status: str, **extra) -> dict:
        end = who.period_start + 30 * DAY
        return {
            "id": f"sub_{who.subscription_id}",
            "status": status,
            "customer": "cus_test",
            "current_period_start": who.period_start,
            "current_period_end": end,
            "cancel_at_period_end": who.cancel_at_period_end,
            "items": {"data": [{"price": {"id": self._plan(who).provider_price_id}}]},
            **extra,
        }

    def _plan(self, who: Student):
        return db.session.get(Subscription, who.subscription_id).plan

    def _apply(self, who: Student, status: str, **extra) -> None:
        subscription = db.session.get(Subscription, who.subscription_id)
        obj = self._stripe_subscription(who, status, **extra)
        apply_provider_subscription(subscription, obj, event_created=self._next())
        db.session.commit()

    def _invoice(self, who: Student, status: str = "paid", number: int | None = None) -> dict:
        start = who.period_start
        return {
            "id": f"in_{number or self._next()}",
            "status": status,
            "subscription": f"sub_{who.subscription_id}",
            "amount_paid": self._plan(who).price if status == "paid" else 0,
            "currency": "usd",
            "lines": {"data": [{"period": {"start": start, "end": start + 30 * DAY}}]},
        }

    def _live(self, who: Student) -> bool:
        return who.status in (S.ACTIVE, S.TRIALING, S.PAST_DUE)

    # --- the rules --------------------------------------------------------------------

    @rule(who=st.integers(0, 1), plan=st.integers(0, 1))
    def subscribe(self, who, plan):
        who = self.students[who]
        if self._live(who):
            return
        subscription = Subscription(
            student_id=who.user_id, plan_id=self.plans[plan].id, status=S.INCOMPLETE
        )
        db.session.add(subscription)
        db.session.flush()
        subscription.provider_subscription_id = f"sub_{subscription.id}"
        db.session.commit()
        who.subscription_id = subscription.id
        who.period_start = int(utcnow().timestamp())
        who.cancel_at_period_end = False
        self._apply(who, "active")
        who.status = S.ACTIVE
        self._renew(who)

    def _renew(self, who: Student, number: int | None = None) -> None:
        subscription = db.session.get(Subscription, who.subscription_id)
        billing.renew_subscription(subscription, self._invoice(who, number=number))
        db.session.commit()
        self.cash += subscription.plan.price
        who.allowed, who.used = subscription.plan.lessons_per_month, 0

    @rule(who=st.integers(0, 1))
    def book(self, who):
        who = self.students[who]
        self.slot += 1
        starts_at = (utcnow() + timedelta(days=2, hours=2 * self.slot)).replace(
            second=0, microsecond=0
        )
        student = db.session.get(factories.UserFactory._meta.model, who.user_id)
        try:
            booking = create_booking(
                student, self.tutor.id, starts_at, 60, currency="usd", use_subscription=True
            )
            db.session.commit()
        except Conflict as refused:
            db.session.rollback()
            expected = (
                "quota_exhausted"
                if who.status in (S.ACTIVE, S.TRIALING)
                else "no_active_subscription"
            )
            assert refused.code == expected
            assert who.status not in (S.ACTIVE, S.TRIALING) or who.used >= who.allowed
            return
        assert who.status in (S.ACTIVE, S.TRIALING) and who.used < who.allowed
        assert booking.status == BookingStatus.SCHEDULED
        who.used += 1
        who.lessons.append(booking.id)

    @precondition(lambda self: any(s.lessons for s in self.students))
    @rule(data=st.data())
    def cancel_lesson(self, data):
        who = data.draw(st.sampled_from([s for s in self.students if s.lessons]))
        booking_id = data.draw(st.sampled_from(who.lessons))
        booking = db.session.get(Booking, booking_id)
        period = current_period(db.session.get(Subscription, who.subscription_id))
        same_period = period is not None and booking.subscription_period_id == period.id
        cancel_booking(self.admin, booking_id)
        db.session.commit()
        who.lessons.remove(booking_id)
        if same_period and self._live(who):
            who.used -= 1

    @precondition(lambda self: any(s.lessons for s in self.students))
    @rule(data=st.data())
    def complete_lesson(self, data):
        who = data.draw(st.sampled_from([s for s in self.students if s.lessons]))
        booking_id = data.draw(st.sampled_from(who.lessons))
        complete_booking(self.admin, booking_id)
        db.session.commit()
        who.lessons.remove(booking_id)

    @rule(who=st.integers(0, 1), twice=st.booleans())
    def renew(self, who, twice):
        """A renewal's invoice paid (reported twice sometimes: `invoice.paid` and
        `invoice.payment_succeeded`); paid after a failure it makes the subscription
        active again."""
        who = self.students[who]
        if not self._live(who) or who.cancel_at_period_end:
            return  # Stripe renews neither an ended subscription nor one ending
        who.period_start += 30 * DAY
        number = self._next()
        self._renew(who, number)
        if twice:
            subscription = db.session.get(Subscription, who.subscription_id)
            billing.renew_subscription(subscription, self._invoice(who, number=number))
            db.session.commit()
        if who.status == S.PAST_DUE:
            self._apply(who, "active")
            who.status = S.ACTIVE

    @rule(who=st.integers(0, 1), paid=st.integers(0, 20000))
    def change_plan_now(self, who, paid):
        """The plan changed mid-period and Stripe billed its proration: a period for the
        other plan opens half-way and takes over what the current one had not spent."""
        who = self.students[who]
        if who.status != S.ACTIVE or who.cancel_at_period_end:
            return
        subscription = db.session.get(Subscription, who.subscription_id)
        other = next(plan for plan in self.plans if plan.id != subscription.plan_id)
        subscription.plan = other
        db.session.commit()
        start, end = who.period_start + 15 * DAY, who.period_start + 30 * DAY
        invoice = {
            "id": f"in_{self._next()}",
            "status": "paid",
            "subscription": f"sub_{who.subscription_id}",
            "amount_paid": paid,
            "currency": "usd",
            "lines": {"data": [{"period": {"start": start, "end": end}, "proration": True}]},
        }
        billing.renew_subscription(subscription, invoice)
        db.session.commit()
        self.cash += paid
        who.allowed, who.used = other.lessons_per_month, 0

    @rule(who=st.integers(0, 1))
    def payment_failed(self, who):
        who = self.students[who]
        if not self._live(who):
            return
        invoice = self._invoice(who, status="open")
        events.invoice_payment_failed(invoice)
        db.session.commit()
        who.status = S.PAST_DUE

    @rule(who=st.integers(0, 1), now=st.booleans())
    def cancel(self, who, now):
        who = self.students[who]
        if not self._live(who):
            return
        if now:
            ended = int(utcnow().timestamp())
            self._apply(who, "canceled", ended_at=ended, canceled_at=ended)
            who.status = S.CANCELED
        else:
            who.cancel_at_period_end = True
            self._apply(who, "past_due" if who.status == S.PAST_DUE else "active")

    @rule(who=st.integers(0, 1))
    def expire(self, who):
        """The period ends for a subscription cancelled at its end, or unpaid after
        Stripe's retries."""
        who = self.students[who]
        if not self._live(who) or not (who.cancel_at_period_end or who.status == S.PAST_DUE):
            return
        end = who.period_start + 30 * DAY
        details = {} if who.cancel_at_period_end else {"reason": "payment_failed"}
        self._apply(who, "canceled", ended_at=end, cancellation_details=details)
        who.status = S.EXPIRED

    # --- what must always hold --------------------------------------------------------

    @invariant()
    def books_balance_and_the_quota_agrees(self):
        assert_ledger_ok()
        balances = {account.code: value for account, value in platform_balances()}
        assert balances.get("provider_cash", 0) == self.cash
        for who in self.students:
            if who.subscription_id is None:
                continue
            subscription = db.session.get(Subscription, who.subscription_id)
            db.session.refresh(subscription)
            assert subscription.status == who.status
            if self._live(who):
                period = current_period(subscription)
                assert (period.lessons_used, subscription.lessons_used) == (who.used, who.used)
                assert period.lessons_used <= period.lessons_allowed


SubscriptionMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_subscription_state_machine(app):
    SubscriptionMachine.TestCase("runTest").runTest()
