"""float4 and float8 as PostgreSQL prints them (``extra_float_digits`` > 0, the default).

PostgreSQL 12+ prints the shortest decimal that reads back as the same float (Ryu), with one
twist Python's ``repr`` lacks: a decimal lying exactly halfway to a neighbouring float is
never chosen (Ryu's ``acceptBounds`` is off), so ``1e23::float8`` prints
``9.999999999999999e+22`` where Python says ``1e+23``. Layout is ``printf``'s: fixed point
for decimal exponents -4 up to 5 (float4) or 14 (float8), otherwise ``d.ddde+XX``.

Python's answer is used whenever it cannot be on a bound (almost always: a bound is a
binary fraction); otherwise the digits are searched exactly with fractions.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from fractions import Fraction

__all__ = ["float4_text", "float8_text"]

_F4 = struct.Struct("!f")
_F4_BITS = struct.Struct("!I")


def _float4_neighbour(x: float, up: bool) -> float:
    """The next float4 after ``x`` (finite, non-negative) going up or down."""
    (bits,) = _F4_BITS.unpack(_F4.pack(x))
    return float(_F4.unpack(_F4_BITS.pack(bits + (1 if up else -1)))[0])


def _neighbour(x: float, up: bool, single: bool) -> float:
    n = _float4_neighbour(x, up) if single else math.nextafter(x, math.inf if up else 0.0)
    if math.isinf(n):  # above the largest float, Ryu spaces as below it
        return x + (x - _neighbour(x, False, single))
    return n


def _reads_as_float4(text: str, x: float) -> bool:
    try:
        return bool(_F4.unpack(_F4.pack(float(text)))[0] == x)
    except OverflowError:  # rounded up past the largest float4
        return False


def _candidate(x: float, single: bool) -> Decimal:
    """Python's shortest round-tripping decimal for ``x`` (> 0), bounds allowed."""
    if single:
        for precision in range(9):
            text = f"{x:.{precision}e}"
            if _reads_as_float4(text, x):
                return Decimal(text)
    return Decimal(repr(x))


def _exact(x: float, single: bool) -> Decimal:
    """The shortest decimal strictly inside ``x``'s rounding interval, nearest to ``x``."""
    exact = Fraction(x)
    low = (exact + Fraction(_neighbour(x, False, single))) / 2
    high = (exact + Fraction(_neighbour(x, True, single))) / 2
    top = Decimal(x).adjusted()  # decimal exponent of the first digit
    for length in range(1, 18):
        scale = Fraction(10) ** (top - length + 1)
        first = math.floor(low / scale) + 1
        last = math.ceil(high / scale) - 1
        if first <= last:
            k = min(max(round(exact / scale), first), last)
            return Decimal(k).scaleb(top - length + 1)
    return Decimal(x)  # unreachable: 17 digits always suffice


def _shortest(x: float, single: bool) -> Decimal:
    """PostgreSQL's digits for ``x`` > 0."""
    if single and math.frexp(x)[0] == 0.5:
        # At a power of two the gap below is half the gap above: the nearest decimal of a
        # length may lie outside while a farther one fits; the float4 search misses that.
        return _exact(x, single)
    candidate = _candidate(x, single).normalize()
    exp = candidate.as_tuple().exponent
    assert isinstance(exp, int)
    # A bound is a binary fraction, and k * 10^exp with exp < 0 is one only if 5^-exp | k.
    if exp < 0 and int(candidate.scaleb(-exp)) % 5 ** (-exp):
        return candidate
    value = Fraction(candidate)
    if value != x:
        bound = (Fraction(x) + Fraction(_neighbour(x, value > x, single))) / 2
        if value == bound:
            return _exact(x, single)
    return candidate


def _layout(x: float, fixed_below: int, single: bool) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    _, digit_tuple, exp = _shortest(abs(x), single).normalize().as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    e10 = len(digits) - 1 + exp  # decimal exponent of the first digit
    if -4 <= e10 < fixed_below:
        if exp >= 0:
            body = digits + "0" * exp
        elif e10 >= 0:
            body = f"{digits[: e10 + 1]}.{digits[e10 + 1 :]}"
        else:
            body = "0." + "0" * (-e10 - 1) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        body = f"{mantissa}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    return sign + body


def float4_text(data: bytes) -> str:
    """Text of a binary float4, as ``float4out``."""
    return _layout(_F4.unpack(data)[0], 6, single=True)


def float8_text(data: bytes) -> str:
    """Text of a binary float8, as ``float8out``."""
    return _layout(struct.unpack("!d", data)[0], 15, single=False)
