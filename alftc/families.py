"""Divergence families: the target reward R(p) that a table estimates.

A family is a Bregman beta-divergence generator with parameter b > 0::

    R_b(p) = (p**(b - 1) - 1) / (b - 1)    for b != 1
    R_1(p) = log(p)                        (the limit b -> 1, the KL game)

The parameter is kept as an exact :class:`fractions.Fraction`, so ``beta:1.5``
and ``beta:3/2`` name the same family and integer b is recognised exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from alftc.errors import InputError

__all__ = ["Family", "FamilyError", "parse_family", "parse_families"]


class FamilyError(InputError):
    """Invalid family name or parameter."""


@dataclass(frozen=True)
class Family:
    """Bregman beta-divergence family with exact parameter ``b``."""

    b: Fraction

    def __post_init__(self):
        if self.b <= 0:
            raise FamilyError(
                f"invalid family beta:{_format_fraction(self.b)}: b must be > 0, because for "
                f"b <= 0 the weighted target p*R_b(p) does not vanish at p = 0, so no "
                f"polynomial table can approximate it; use kl (b = 1) or beta:B with B > 0"
            )

    @property
    def name(self) -> str:
        """Canonical name: ``kl`` for b = 1, else ``beta:B``."""
        if self.b == 1:
            return "kl"
        return "beta:" + _format_fraction(self.b)

    @property
    def parameter(self) -> str:
        """Exact parameter b as a decimal or fraction string."""
        return _format_fraction(self.b)

    @property
    def is_integer(self) -> bool:
        return self.b.denominator == 1

    @property
    def polynomial_degree(self) -> int | None:
        """Degree b - 1 of R_b when it is a polynomial (integer b >= 2), else None."""
        if self.is_integer and self.b >= 2:
            return int(self.b) - 1
        return None

    def target(self, p):
        """Evaluate R_b(p) in mpmath at the caller's working precision."""
        p = mpmath.mpf(p)
        if self.b == 1:
            return mpmath.log(p)
        b = mpmath.mpf(self.b.numerator) / self.b.denominator
        if self.is_integer:
            return (p ** int(self.b - 1) - 1) / (b - 1)
        return (mpmath.power(p, b - 1) - 1) / (b - 1)

    def target_derivative(self, p):
        """Evaluate R_b'(p) = p**(b - 2) in mpmath."""
        p = mpmath.mpf(p)
        if self.is_integer:
            return p ** int(self.b - 2)
        b = mpmath.mpf(self.b.numerator) / self.b.denominator
        return mpmath.power(p, b - 2)

    def target_exact(self, p: Fraction) -> Fraction:
        """Evaluate R_b(p) exactly, for integer b >= 2 and rational p."""
        degree = self.polynomial_degree
        if degree is None:
            raise FamilyError(f"{self.name} has no polynomial target, so R(p) is not rational")
        return (Fraction(p) ** degree - 1) / degree

    def target_float(self, p: float) -> float:
        """Evaluate R_b(p) in float64."""
        if self.b == 1:
            return math.log(p)
        b = float(self.b)
        return (p ** (b - 1.0) - 1.0) / (b - 1.0)

    def __str__(self) -> str:
        return self.name


def _format_fraction(value: Fraction) -> str:
    """Write a fraction as a short exact decimal, or as ``p/q`` when it has none."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = abs(value) * 10**digits
    whole, frac = divmod(int(scaled), 10**digits)
    text = f"{whole}.{frac:0{digits}d}".rstrip("0").rstrip(".")
    return ("-" if value < 0 else "") + text


def parse_family(text: str) -> Family:
    """Parse ``kl`` or ``beta:B`` (B a decimal or fraction, B > 0) into a :class:`Family`."""
    raw = text.strip()
    if raw.lower() == "kl":
        return Family(Fraction(1))
    prefix, sep, parameter = raw.partition(":")
    if sep != ":" or prefix.lower() != "beta" or not parameter.strip():
        raise FamilyError(
            f"invalid family {text!r}: expected 'kl' or 'beta:B' with a real B > 0, "
            f"e.g. beta:2 or beta:1.5"
        )
    try:
        b = Fraction(parameter.strip())
    except (ValueError, ZeroDivisionError):
        raise FamilyError(
            f"invalid family {text!r}: {parameter.strip()!r} is not a real number; "
            f"write B as a decimal or fraction, e.g. beta:1.5 or beta:3/2"
        ) from None
    return Family(b)


def parse_families(text: str) -> list[Family]:
    """Parse a comma-separated family list, rejecting duplicates."""
    families = []
    for part in text.split(","):
        if not part.strip():
            raise FamilyError(f"invalid family list {text!r}: empty entry between commas")
        family = parse_family(part)
        if family in families:
            raise FamilyError(f"invalid family list {text!r}: {family.name} appears twice")
        families.append(family)
    return families
