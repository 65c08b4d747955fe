from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import InputRequired

from portal.forms import MoneyField
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
