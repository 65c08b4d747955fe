"""The argument checks every wallet movement shares (keyword values from callers)."""

from __future__ import annotations

from portal.errors import ValidationError
from portal.money import AmountError, check_amount, require_int


def amount(value: object, name: str = "amount") -> int:
    """An int of minor units, more than zero and at most MAX_AMOUNT."""
    require_int(value, name)
    try:
        return check_amount(value, name=name)
    except AmountError as exc:
        raise ValidationError(str(exc), fields={name: [str(exc)]}) from None


def part(value: object, name: str, whole: int, whole_name: str) -> int:
    """An int from 0 to `whole` (a fee of a gross, a fee part of a refund)."""
    require_int(value, name)
    if value < 0 or value > whole:
        message = f"{name} must be between 0 and {whole_name}."
        raise ValidationError(message, fields={name: [message]})
    return value


def optional_id(value: object, name: str) -> int | None:
    if value is not None:
        require_int(value, name)
    return value


def reason(value: object) -> str:
    """An admin's reason for an adjustment: said, and short enough for the statement."""
    if not isinstance(value, str):
        raise TypeError("reason must be a string")
    value = value.strip()
    if not value:
        raise ValidationError("Give a reason.", fields={"reason": ["Give a reason."]})
    if len(value) > 255:
        raise ValidationError(
            "Keep the reason under 255 characters.", fields={"reason": ["At most 255 characters."]}
        )
    return value
