from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.accounts.tokens import MAX_NAME_LENGTH
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
            Length(
                max=MAX_PASSWORD_LENGTH, message=f"Use at most {MAX_PASSWORD_LENGTH} characters."
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters, not a common password.",
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


class CodeForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=32)],
        description="The 6-digit code from your authenticator app, or a recovery code.",
    )


class TokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[
            Optional(),
            Length(max=MAX_NAME_LENGTH, message=f"Use at most {MAX_NAME_LENGTH} characters."),
        ],
        description="What the token is for, e.g. “reporting script”.",
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."
            ),
            Length(
                max=MAX_PASSWORD_LENGTH, message=f"Use at most {MAX_PASSWORD_LENGTH} characters."
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters, not a common password.",
    )
