from decimal import Decimal

import pytest

from portal.money import (
    AmountError,
    check_amount,
    format_money,
    parse_amount,
    split_fee,
    split_refund,
)


@pytest.mark.parametrize(
    ("amount", "fee", "net"),
    [(4500, 675, 3825), (4999, 750, 4249), (1, 0, 1), (10, 2, 8), (0, 0, 0)],
)
def test_fee_split_rounds_half_up_and_adds_up(amount, fee, net):
    split = split_fee(amount)
    assert (split.fee, split.net) == (fee, net)
    assert split.fee + split.net == amount


def test_fee_split_takes_the_configured_percent():
    assert split_fee(1000, Decimal("12.5")).fee == 125


def test_fee_split_refuses_anything_but_int():
    for bad in (45.0, "4500", Decimal(4500), True):
        with pytest.raises(TypeError):
            split_fee(bad)


def test_partial_refunds_never_return_more_fee_than_paid():
    amount, fee = 4999, 750
    refunded = fee_refunded = 0
    for part in (1000, 1000, 1000, 1999):
        split = split_refund(
            part, amount=amount, fee=fee, refunded=refunded, fee_refunded=fee_refunded
        )
        assert split.fee + split.net == part
        refunded += part
        fee_refunded += split.fee
    assert (refunded, fee_refunded) == (amount, fee)


def test_refund_over_what_remains_is_refused():
    with pytest.raises(ValueError):
        split_refund(2, amount=10, fee=2, refunded=9, fee_refunded=2)


@pytest.mark.parametrize(
    ("text", "minor"),
    [("45", 4500), ("45.5", 4550), ("45.50", 4550), (" 1,234.56 ", 123456), ("0.01", 1)],
)
def test_parse_amount(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("text", ["abc", "-1", "1e9", "", "0", "0.00", "45.505", "1000001", None])
def test_parse_amount_refuses_with_a_message(text):
    with pytest.raises(AmountError) as info:
        parse_amount(text)
    assert str(info.value)


def test_check_amount_for_json():
    assert check_amount(100) == 100
    for bad in (0, -5, 1.5, "100", True, 10**12):
        with pytest.raises(AmountError):
            check_amount(bad)


def test_format_money_uses_babel():
    assert format_money(4500, "usd") == "$45.00"
    assert format_money(-170000, "usd") == "-$1,700.00"
    assert format_money(1000, "jpy") == "¥1,000"


@pytest.mark.parametrize("currency", ["usd", "jpy", "kwd"])
def test_plain_major_units_are_the_decimal_amount_for_every_size_and_sign(currency):
    from portal.money import format_major_plain, minor_digits, to_major

    for amount in (0, 1, -1, 7, -7, 99, 100, -100, 4550, -4550, 123_456_789, 10**15 + 3):
        expected = f"{to_major(amount, currency):.{minor_digits(currency)}f}"
        assert format_major_plain(amount, currency) == expected
    with pytest.raises(TypeError):
        format_major_plain(45.5, currency)
