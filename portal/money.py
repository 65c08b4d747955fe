"""Money: integers in the currency's minor unit, a round-half-up fee split, parsing and display.

Every amount in the portal is an `int` of minor units (cents) in the single platform
currency. Floats never appear: percentages are `Decimal`, and results are rounded half up
back to an int. Functions here refuse anything that is not an int with a `TypeError`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision
from flask import current_app


class AmountError(ValueError):
    """A user-typed amount that cannot be accepted; the message is shown to the user."""


def require_int(amount: object, name: str = "amount") -> int:
    # bool is an int subclass; True is not an amount of money.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"{name} must be an int of minor units, not {type(amount).__name__}")
    return amount


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(amount: int, percent: Decimal) -> int:
    require_int(amount)
    return round_half_up(Decimal(amount) * Decimal(percent) / 100)


@dataclass(frozen=True)
class FeeSplit:
    amount: int
    fee: int
    net: int


def split_fee(amount: int, percent: Decimal | None = None) -> FeeSplit:
    """Split a gross amount into platform fee and tutor net; fee + net == amount always."""
    require_int(amount)
    if percent is None:
        percent = current_app.config["PLATFORM_FEE_PERCENT"]
    fee = percent_of(amount, percent)
    return FeeSplit(amount=amount, fee=fee, net=amount - fee)


def split_refund(
    refund: int, *, amount: int, fee: int, refunded: int, fee_refunded: int
) -> FeeSplit:
    """Split a (partial) refund like the payment it returns.

    The last refund takes the remainder, so the refunds of one payment never give back
    more fee or more net than the payment had.
    """
    for value, name in ((refund, "refund"), (amount, "amount"), (fee, "fee")):
        require_int(value, name)
    remaining = amount - refunded
    if refund <= 0 or refund > remaining:
        raise ValueError("refund must be positive and at most what remains")
    if refund == remaining:
        refund_fee = fee - fee_refunded
    else:
        refund_fee = min(round_half_up(Decimal(refund) * fee / amount), fee - fee_refunded)
    return FeeSplit(amount=refund, fee=refund_fee, net=refund - refund_fee)


@functools.cache
def minor_digits(currency: str) -> int:
    return get_currency_precision(currency.upper())


_AMOUNT_RE = re.compile(r"^\d{1,12}(?:\.(\d{1,2}))?$")


def parse_amount(text: object, currency: str | None = None, *, maximum: int | None = None) -> int:
    """Turn what a user typed ("45", "45.5", "45.50") into minor units (4500, 4550, 4550)."""
    if currency is None:
        currency = current_app.config["PLATFORM_CURRENCY"]
    if maximum is None:
        maximum = current_app.config["MAX_AMOUNT"]
    raw = str(text if text is not None else "").strip().replace(",", "")
    if not raw:
        raise AmountError("Enter an amount.")
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise AmountError("Enter an amount like 45 or 45.50.")
    digits = minor_digits(currency)
    decimals = match.group(1) or ""
    if len(decimals) > digits:
        raise AmountError(f"Use at most {digits} decimal places.")
    value = round_half_up(Decimal(raw) * (10**digits))
    if value <= 0:
        raise AmountError("The amount must be more than zero.")
    if value > maximum:
        raise AmountError(f"The amount must be at most {format_money(maximum, currency)}.")
    return value


def check_amount(value: object, *, maximum: int | None = None, name: str = "amount") -> int:
    """Validate an amount that arrives already in minor units (JSON API)."""
    if maximum is None:
        maximum = current_app.config["MAX_AMOUNT"]
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmountError(f"{name} must be a whole number of minor units (cents).")
    if value <= 0:
        raise AmountError(f"{name} must be more than zero.")
    if value > maximum:
        raise AmountError(f"{name} must be at most {maximum}.")
    return value


def to_major(amount: int, currency: str) -> Decimal:
    require_int(amount)
    return Decimal(amount).scaleb(-minor_digits(currency))


def format_money(amount: int | None, currency: str | None = None, locale: str = "en_US") -> str:
    """Display an amount with Babel, e.g. 4500 usd -> "$45.00"."""
    if amount is None:
        return ""
    if currency is None:
        currency = current_app.config["PLATFORM_CURRENCY"]
    return _formatted(require_int(amount), currency, locale)


@functools.lru_cache(maxsize=8192)
def _formatted(amount: int, currency: str, locale: str) -> str:
    # Babel parses the locale's pattern on every call: a page of figures repeats many.
    return format_currency(to_major(amount, currency), currency.upper(), locale=locale)


def format_major_plain(amount: int, currency: str) -> str:
    """An amount in major units without symbol, for form fields and CSV: 4550 -> "45.50".

    Integer arithmetic only: exports call this for every figure of every line.
    """
    require_int(amount)
    digits = minor_digits(currency)
    if not digits:
        return str(amount)
    whole, fraction = divmod(abs(amount), 10**digits)
    return f"{'-' if amount < 0 else ''}{whole}.{fraction:0{digits}d}"
