from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.accounts.services import MIN_PASSWORD_LENGTH
from portal.forms import MoneyField


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."
            ),
            Length(max=200, message="Use at most 200 characters."),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    role = RadioField(
        "I am a",
        choices=[
            Choice("student", "Student — I want to book lessons"),
            Choice("tutor", "Tutor — I want to teach and earn"),
        ],
        default="student",
        validators=[DataRequired()],
    )
    hourly_rate = MoneyField(
        "Hourly rate (tutors)",
        validators=[Optional()],
        description="What a 60-minute lesson costs, e.g. 45.00.",
    )


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])
