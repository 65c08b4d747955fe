from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice as Choice
from wtforms.validators import DataRequired, Email, Length, Optional, StopValidation

from portal.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.accounts.tokens import MAX_NAME_LENGTH
from portal.dates import DEFAULT_ZONE, zone_names
from portal.forms import MoneyField

NEW_PASSWORD_HELP = f"At least {MIN_PASSWORD_LENGTH} characters, not a common password."
RATE_HELP = "What a 60-minute lesson with you costs, e.g. 45.00. You can change it later."
ZONE_HELP = "Times on every page are shown in this zone."
SIGN_UP_ZONE_HELP = f"{ZONE_HELP} It starts at your browser's zone."


def new_password_field(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."
            ),
            Length(
                max=MAX_PASSWORD_LENGTH, message=f"Use at most {MAX_PASSWORD_LENGTH} characters."
            ),
        ],
        description=NEW_PASSWORD_HELP,
    )


def time_zone_field(description: str = ZONE_HELP) -> SelectField:
    # Choices are the zone names themselves; checked again by the service.
    return SelectField(
        "Time zone",
        choices=lambda: [Choice(name, name.replace("_", " ")) for name in zone_names()],
        default=DEFAULT_ZONE,
        validators=[DataRequired(message="Choose a time zone.")],
        validate_choice=True,
        description=description,
    )


class TutorRate:
    """The hourly rate is required when the form's role is tutor (a student has none)."""

    def __call__(self, form, field):
        if form.role.data == "tutor" and field.data is None and not field.errors:
            raise StopValidation("Tutors set an hourly rate: what a 60-minute lesson costs.")


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = new_password_field("Password")
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
        "Hourly rate (tutors)", validators=[TutorRate()], description=RATE_HELP
    )
    time_zone = time_zone_field(SIGN_UP_ZONE_HELP)


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
    new_password = new_password_field("New password")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(), Email(), Length(max=254)],
        description="The address you signed up with.",
    )


class ResetPasswordForm(FlaskForm):
    password = new_password_field("New password")


class ProfileForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    hourly_rate = MoneyField("Hourly rate", validators=[Optional()], description=RATE_HELP)
    time_zone = time_zone_field()


class NotificationsForm(FlaskForm):
    """One checkbox per optional kind of mail, added for the user by `for_user`."""

    @classmethod
    def for_user(cls, kinds, chosen, **kwargs):
        class Form(cls):
            pass

        for kind in kinds:
            setattr(Form, kind.key, BooleanField(kind.label, description=kind.help))
        return Form(data={k.key: chosen(k.key) for k in kinds}, **kwargs)
