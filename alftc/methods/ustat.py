"""Exact U-statistic tables for integer b >= 2.

For integer b >= 2, R_b(p) = (p^(b-1) - 1)/(b - 1) is a polynomial of degree
m = b - 1. Among the other n = K - 1 samples, N ~ Binomial(n, p) share the
answer, and E[(N)_m] = (n)_m p^m for the falling factorial (x)_m, so

    r_K[c] = ((c - 1)_m / (n)_m - 1) / m

is exactly unbiased when n >= m, that is K >= b. Values are exact rationals.
"""

from __future__ import annotations

from fractions import Fraction

from alftc.errors import InputError
from alftc.families import Family
from alftc.rows import Draft

NAME = "ustat"

__all__ = ["NAME", "check", "build", "falling_factorial", "ustat_values"]


def falling_factorial(x: int, m: int) -> int:
    """Return (x)_m = x (x - 1) ... (x - m + 1), with (x)_0 = 1."""
    result = 1
    for i in range(m):
        result *= x - i
    return result


def ustat_values(family: Family, K: int) -> tuple[Fraction, ...]:
    """Return the exact unbiased row r_K[1..K] for an integer-b family."""
    check(family, K, None)
    m = family.polynomial_degree
    n = K - 1
    denominator = falling_factorial(n, m)
    return tuple(
        (Fraction(falling_factorial(c - 1, m), denominator) - 1) / m for c in range(1, K + 1)
    )


def check(family: Family, K: int, options) -> None:
    """Reject families without a polynomial target and K too small for the degree."""
    m = family.polynomial_degree
    if m is None:
        raise InputError(
            f"method ustat needs an integer b >= 2, so that R_b is a polynomial; "
            f"{family.name} has no exactly unbiased table. Use --method remez "
            f"(minimax bias) or --method aqp (low bias and low variance)"
        )
    if K < int(family.b):
        raise InputError(
            f"invalid K = {K} for {family.name}/ustat: the exact U-statistic of a "
            f"degree-{m} target needs K >= {int(family.b)} samples per group; "
            f"use --K {int(family.b)} or larger, or --method plugin for K = {K}"
        )


def build(family: Family, Ks, options):
    """Yield the exact U-statistic draft for each K."""
    for K in Ks:
        yield Draft(
            K=K,
            variant="default",
            values=ustat_values(family, K),
            exact=True,
            facts={"degree": family.polynomial_degree, "arithmetic": "exact rational"},
        )
