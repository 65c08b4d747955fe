"""Forms of the plans and subscription pages (only views import this)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import MoneyField
from portal.money import format_money
from portal.payments.forms import NEW_CARD, PayForm
from portal.subscriptions import plans
from portal.subscriptions.models import PlanInterval


class PlanForm(FlaskForm):
    """A new plan. Its price is fixed once made: another price is another plan."""

    slug = StringField(
        "Slug",
        validators=[DataRequired(message="Give the plan a slug."), Length(max=64)],
        description="Lower-case letters, digits and dashes; it names the plan in the API.",
    )
    name = StringField("Name", validators=[DataRequired(message="Name the plan."), Length(max=120)])
    price = MoneyField("Price", validators=[InputRequired(message="Enter the price.")])
    interval = SelectField(
        "Billed every",
        choices=[
            Choice(PlanInterval.MONTH.value, "Month"),
            Choice(PlanInterval.YEAR.value, "Year"),
        ],
        default=PlanInterval.MONTH.value,
    )
    lessons_per_month = IntegerField(
        "Lessons a month",
        validators=[
            InputRequired(message="Enter a whole number of lessons."),
            NumberRange(1, plans.MAX_LESSONS_PER_MONTH),
        ],
    )
    trial_days = IntegerField(
        "Free trial (days)",
        default=0,
        validators=[Optional(), NumberRange(0, plans.MAX_TRIAL_DAYS)],
    )
    features = TextAreaField(
        "What it gives",
        validators=[Optional(), Length(max=plans.MAX_FEATURES * (plans.MAX_FEATURE_LENGTH + 2))],
        description="One line each, shown on the plans page.",
    )

    def feature_lines(self) -> list[str]:
        return [line.strip() for line in (self.features.data or "").splitlines() if line.strip()]


class SubscribeForm(PayForm):
    """Subscribe with a saved card, or a new card whose Stripe.js id the page script fills
    in: the lesson payment form's fields, so the same script drives both."""

    @property
    def is_new_card(self) -> bool:
        return self.card.data == NEW_CARD


class ChangePlanForm(FlaskForm):
    plan_id = SelectField("New plan", validators=[DataRequired(message="Choose a plan.")])

    def __init__(self, offered, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan_id.choices = [
            Choice(str(p.id), f"{p.name} ({format_money(p.price, p.currency)} a {p.interval})")
            for p in offered
        ]
