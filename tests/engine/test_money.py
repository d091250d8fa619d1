"""Rounding (ROUND_HALF_UP at the currency precision, DESIGN §4.9) and money/factor formatting."""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from plugin.engine.money import exact, factor_decimal, factor_str, money_str, plain, round_half_up


@pytest.mark.parametrize(
    "value, places, expected",
    [
        ("0.005", 2, "0.01"),
        ("-0.005", 2, "-0.01"),
        ("0.004999", 2, "0.00"),
        ("-0.004999", 2, "0.00"),
        ("2.675", 2, "2.68"),
        ("-2.675", 2, "-2.68"),
        ("1.0005", 3, "1.001"),
        ("-1.0005", 3, "-1.001"),
        ("0.5", 0, "1"),
        ("-0.5", 0, "-1"),
        ("2.5", 0, "3"),
        ("-2.5", 0, "-3"),
        ("1.4999", 0, "1"),
        ("475.2", 2, "475.20"),
        ("0", 2, "0.00"),
        ("0", 0, "0"),
        ("-0.0004", 3, "0.000"),
        ("123456789012345678901234567890.125", 2, "123456789012345678901234567890.13"),
    ],
)
def test_round_half_up_edges(value, places, expected):
    result = round_half_up(Decimal(value), places)
    assert str(result) == expected
    assert result.as_tuple().exponent == -places


def test_round_half_up_of_fractions_is_exact():
    assert str(round_half_up(Fraction(10520, 31), 2)) == "339.35"  # 339.3548…
    assert str(round_half_up(Fraction(480 * 258, 365), 2)) == "339.29"  # 339.2876…
    assert str(round_half_up(Fraction(1, 200), 2)) == "0.01"  # exact tie
    assert str(round_half_up(Fraction(-1, 200), 2)) == "-0.01"
    assert str(round_half_up(Fraction(1, 3), 2)) == "0.33"
    assert str(round_half_up(Fraction(2, 3), 0)) == "1"


def test_negative_zero_is_plain_zero():
    assert round_half_up(Decimal("-0.001"), 2).as_tuple().sign == 0


def test_floats_are_refused():
    with pytest.raises(TypeError):
        round_half_up(0.1, 2)
    with pytest.raises(TypeError):
        exact(1.5)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False), st.integers(0, 4)
)
def test_exact_path_matches_decimal_quantize_half_up(value, places):
    expected = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    assert round_half_up(Fraction(value), places) == expected  # the Fraction (rule) path
    assert round_half_up(value, places) == expected  # the Decimal fast path
    seventh = Fraction(value) / 7
    assert round_half_up(seventh, places) == -round_half_up(-seventh, places)
    assert round_half_up(-value, places) == -round_half_up(value, places)  # credits mirror debits


def test_money_str_pads_to_precision():
    assert money_str(Decimal("475.2"), 2) == "475.20"
    assert money_str(Decimal("12.3456"), 2) == "12.35"
    assert money_str(Decimal("-12.345"), 2) == "-12.35"
    assert money_str(Decimal("100"), 0) == "100"
    assert money_str(Decimal("1.5"), 3) == "1.500"


def test_factor_str_ten_places_and_one():
    assert factor_str(None) == "1"
    assert factor_str(Fraction(1)) == "1"
    assert factor_str(Fraction(1, 2)) == "0.5000000000"
    assert factor_str(Fraction(2, 3)) == "0.6666666667"
    assert factor_str(Fraction(258, 365)) == "0.7068493151"
    assert factor_decimal(Fraction(1, 3)) == Decimal("0.3333333333")
    assert factor_decimal(None) == Decimal(1)


def test_plain_quantities():
    assert plain(Decimal("10.0000000000")) == "10"
    assert plain(Decimal("-4")) == "-4"
    assert plain(Decimal("2.50")) == "2.5"
    assert plain(Decimal("0E-10")) == "0"
    assert plain(Decimal("1E+2")) == "100"
