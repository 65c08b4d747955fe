from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import InputRequired

from portal.forms import MoneyField


class PayoutSettingsForm(FlaskForm):
    payout_threshold = MoneyField(
        "Auto-payout threshold",
        validators=[InputRequired(message="Enter an amount.")],
        description="When auto-payout is on, a payout is requested once your available "
        "balance reaches this amount.",
    )
    auto_payout_enabled = BooleanField("Pay me out automatically")
