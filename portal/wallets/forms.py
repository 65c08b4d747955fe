from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import MoneyField, RequestKeyField
from portal.money import format_money


class PayoutSettingsForm(FlaskForm):
    payout_threshold = MoneyField(
        "Auto-payout threshold",
        validators=[InputRequired(message="Enter an amount.")],
        description="When auto-payout is on, a payout is requested once your available "
        "balance reaches this amount.",
    )
    auto_payout_enabled = BooleanField("Pay me out automatically")

    def __init__(self, *args, minimum: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if minimum is not None:
            self.payout_threshold.description += f" At least {format_money(minimum)}."


class AdjustmentForm(FlaskForm):
    """An admin's credit or debit of a tutor's available balance."""

    direction = RadioField(
        "Adjustment",
        choices=[
            Choice("credit", "Credit: add to the tutor's available balance"),
            Choice("debit", "Debit: take from the tutor's available balance"),
        ],
        default="credit",
        validators=[InputRequired(message="Choose credit or debit.")],
    )
    amount = MoneyField(
        "Amount",
        validators=[InputRequired(message="Enter an amount.")],
        description="A debit never takes more than the available balance.",
    )
    reason = StringField(
        "Reason",
        validators=[
            DataRequired(message="Give a reason: the tutor sees it on their statement."),
            Length(max=255),
        ],
        description="Shown to the tutor on their statement, and kept in the audit log.",
    )
    request_key = RequestKeyField()

    @property
    def signed_amount(self) -> int:
        return -self.amount.data if self.direction.data == "debit" else self.amount.data
