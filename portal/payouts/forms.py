from __future__ import annotations

import pycountry
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import MoneyField, RequestKeyField
from portal.payouts.models import METHOD_LABELS


class PayoutRequestForm(FlaskForm):
    amount = MoneyField("Amount", validators=[InputRequired(message="Enter an amount.")])
    request_key = RequestKeyField()
    payout_method = RadioField(
        "Pay to",
        choices=[Choice(value, label) for value, label in METHOD_LABELS.items()],
        validators=[InputRequired(message="Choose where the money goes.")],
    )


def _countries() -> list[Choice]:
    countries = sorted(pycountry.countries, key=lambda c: c.name)
    return [Choice("", "Choose a country")] + [Choice(c.alpha_2, c.name) for c in countries]


class BankDetailsForm(FlaskForm):
    """Never filled from what is stored: the page shows the stored account masked."""

    bank_account_holder = StringField("Account holder", validators=[Length(max=100)])
    bank_name = StringField("Bank name", validators=[Length(max=100)])
    bank_country = SelectField("Bank country", choices=[], validate_choice=False)
    account_kind = RadioField(
        "Account type",
        choices=[Choice("iban", "IBAN"), Choice("account", "US account and routing number")],
        default="iban",
    )
    bank_iban = StringField("IBAN", validators=[Length(max=64)])
    bank_account_number = StringField("Account number", validators=[Length(max=32)])
    bank_routing_number = StringField("Routing number (ABA)", validators=[Length(max=16)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bank_country.choices = _countries()

    def service_fields(self) -> dict[str, str]:
        """The filled-in fields of the chosen account type; an empty one keeps what is stored."""
        names = ["bank_account_holder", "bank_name", "bank_country"]
        if self.account_kind.data == "account":
            names += ["bank_account_number", "bank_routing_number"]
        else:
            names += ["bank_iban"]
        values = {name: (getattr(self, name).data or "").strip() for name in names}
        return {name: value for name, value in values.items() if value}


class StripeAccountForm(FlaskForm):
    stripe_account_id = StringField(
        "Stripe account id",
        validators=[Length(max=64)],
        description="acct_ followed by 16 letters and digits, e.g. acct_1Nv0FGQ9RKHgCVdK. "
        "Leave empty to disconnect.",
    )


class CompleteForm(FlaskForm):
    reference = StringField(
        "Bank reference",
        validators=[DataRequired(message="Enter the bank's reference."), Length(max=120)],
    )


class FailForm(FlaskForm):
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Give a reason the tutor will read."), Length(max=255)],
        description="The tutor sees this reason. The money goes back to their balance.",
    )
