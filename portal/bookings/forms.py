from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, TimeField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired

from portal.bookings.services import ALLOWED_DURATIONS


class BookingForm(FlaskForm):
    date = DateField("Date", validators=[DataRequired(message="Choose a date.")])
    time = TimeField("Start time (UTC)", validators=[DataRequired(message="Choose a time.")])
    duration_minutes = SelectField(
        "Length",
        choices=[Choice(str(m), f"{m} minutes") for m in ALLOWED_DURATIONS],
        default="60",
        validators=[DataRequired()],
    )
    # Offered (and labelled with the lessons left) only to a student whose subscription
    # covers lessons now; the booking service decides.
    use_subscription = BooleanField("Use my subscription")


class EmptyForm(FlaskForm):
    """A bare form for buttons that POST: it carries the CSRF token."""
