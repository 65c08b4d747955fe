from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.validators import ValidationError as FieldError

from portal.forms import MoneyField, RequestKeyField
from portal.payments.models import PaymentStatus, PaymentType

NEW_CARD = "new"


class PayForm(FlaskForm):
    """Pay with a saved card, or a new card whose Stripe.js id the page script fills in."""

    card = RadioField("Pay with", validators=[DataRequired(message="Choose a card.")])
    provider_method_id = HiddenField()

    def __init__(self, methods, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.card.choices = [Choice(str(m.id), m.label) for m in methods]
        self.card.choices.append(Choice(NEW_CARD, "A new card"))
        if self.card.data is None:
            default = next((m for m in methods if m.is_default), None)
            self.card.data = str(default.id) if default else NEW_CARD

    def validate_provider_method_id(self, field):
        if self.card.data == NEW_CARD and not field.data:
            raise FieldError("Enter your card details.")

    def choice(self) -> dict:
        """The confirm call's arguments for what was chosen."""
        if self.card.data == NEW_CARD:
            return {"provider_method_id": self.provider_method_id.data}
        return {"payment_method_id": int(self.card.data)}


class SavedCardForm(FlaskForm):
    """Save a card confirmed with Stripe.js `confirmCardSetup`."""

    setup_intent_id = HiddenField(validators=[DataRequired(message="Enter your card details.")])


class AdminRefundForm(FlaskForm):
    """An admin's refund: all that remains or a part, said explicitly; a reason; and a
    second step (`confirm`) that shows the amount and the tutor's share before it is made."""

    scope = RadioField(
        "How much",
        choices=[Choice("full", "Full refund"), Choice("part", "Part of it")],
        validate_choice=False,  # checked in validate_scope, which may infer it
    )
    amount = MoneyField("Amount to refund", description="For a part refund.")
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Give a reason: it is kept with the refund."),
                    Length(max=500)],
    )  # fmt: skip
    request_key = RequestKeyField()
    confirm = HiddenField()

    def validate_scope(self, field):
        # A form posted without the choice but with an amount means that amount.
        if not field.data:
            field.data = "part" if self.amount.raw else None
        if field.data not in ("full", "part"):
            raise FieldError("Choose a full refund, or enter the amount of a part refund.")

    def validate_amount(self, field):
        if self.scope.data == "part" and field.data is None and not field.errors:
            raise FieldError("Enter the amount to refund.")

    @property
    def refund_amount(self) -> int | None:
        """None for a full refund: all that remains when it is made."""
        return None if self.scope.data == "full" else self.amount.data


class StudentRefundForm(FlaskForm):
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=500)])
    request_key = RequestKeyField()


class PaymentFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    status = SelectField(
        "Status",
        choices=[Choice("", "Any status")]
        + [Choice(s.value, s.value.replace("_", " ").capitalize()) for s in PaymentStatus],
        validators=[Optional()],
    )
    payment_type = SelectField(
        "Type",
        choices=[Choice("", "Any type")]
        + [Choice(t.value, t.value.capitalize()) for t in PaymentType],
        validators=[Optional()],
    )
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    tutor = SelectField("Tutor", validators=[Optional()])
    student = StringField("Student email", validators=[Optional(), Length(max=254)])

    def __init__(self, tutors, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tutor.choices = [Choice("", "Any tutor")] + [Choice(str(t.id), t.name) for t in tutors]

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise FieldError("The end date is before the start date.")
