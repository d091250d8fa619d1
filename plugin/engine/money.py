"""Exact arithmetic: `Fraction` values rounded once, ROUND_HALF_UP, to a `Decimal` (docs/billing-rules.md)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from numbers import Rational

Number = Decimal | int | Fraction

FACTOR_PLACES = 10


def exact(value: Number) -> Fraction:
    """The exact rational value of a Decimal/int/Fraction (floats refused: money is never float)."""
    kind = type(value)
    if kind is Fraction:
        return value
    if kind is Decimal or kind is int:
        return Fraction(value)
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, Rational)):
        raise TypeError(f"exact money arithmetic refuses {type(value).__name__} {value!r}")
    return Fraction(value)


def round_half_up(value: Number, places: int) -> Decimal:
    """`value` rounded to `places` decimals, ties away from zero, as a Decimal of that exponent."""
    if places < 0:
        raise ValueError("places must be >= 0")
    if type(value) is Decimal and value.is_finite():
        if value.as_tuple().exponent == -places:
            return value if value or not value.is_signed() else abs(value)
        with localcontext() as ctx:  # quantize is exact given enough digits
            ctx.prec = max(28, value.adjusted() + places + 2)
            result = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return result if result or not result.is_signed() else abs(result)
    x = exact(value) * 10**places
    q, r = divmod(abs(x.numerator), x.denominator)
    if 2 * r >= x.denominator:
        q += 1
    sign = 1 if x < 0 and q else 0
    return Decimal((sign, tuple(int(c) for c in str(q)), -places))


def money_str(value: Decimal, places: int) -> str:
    """A money amount as the API shows it: a string with exactly `places` decimals ("475.20")."""
    return f"{round_half_up(value, places):f}"


def factor_str(factor: Fraction | None) -> str:
    """A proration factor as a string rounded half-up to 10 places; `"1"` when not prorated."""
    if factor is None or factor == 1:
        return "1"
    return f"{round_half_up(factor, FACTOR_PLACES):f}"


def factor_decimal(factor: Fraction | None) -> Decimal:
    """The proration factor for the `w365_prorationfactor` column (Decimal, 10 places)."""
    if factor is None or factor == 1:
        return Decimal(1)
    return round_half_up(factor, FACTOR_PLACES)


def plain(value: Decimal) -> str:
    """A quantity as a plain string, no exponent or trailing zeros ("10", "-4", "2.5")."""
    if value == 0:
        return "0"
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"
