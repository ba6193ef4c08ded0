"""Bernstein polynomials on [0, 1]: the expected reward of a table row.

A row r_K[1..K] defines B_r(p) = sum_k r_k C(n, k) p^k (1 - p)^(n - k) with
n = K - 1 and r_k = r_K[k + 1]. Coefficients are indexed from k = 0 in
increasing degree, as in ``numpy.polynomial``.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import mpmath
import numpy as np

__all__ = [
    "MpBernstein",
    "horner_scaled",
    "mp_bernstein",
    "mp_bernstein_derivative",
    "np_bernstein_basis",
    "np_bernstein_derivative_basis",
    "exact_bernstein_to_monomial",
    "exact_bernstein",
]


def mp_bernstein(coef, p):
    """Evaluate sum_k coef[k] C(n, k) p^k (1-p)^(n-k) in mpmath.

    Uses a Horner scheme in t = p/(1-p) for p <= 1/2 and in (1-p)/p above, so
    every step multiplies by a ratio at most 1 and no power underflows.
    """
    n = len(coef) - 1
    return horner_scaled([coef[k] * comb(n, k) for k in range(n + 1)], p)


def horner_scaled(scaled, p):
    """Evaluate sum_k scaled[k] p^k (1-p)^(n-k), where scaled[k] = coef[k] C(n, k)."""
    n = len(scaled) - 1
    p = mpmath.mpf(p)
    q = 1 - p
    if n == 0:
        return mpmath.mpf(scaled[0])
    total = mpmath.mpf(0)
    if p <= q:
        t = p / q
        for k in range(n, -1, -1):
            total = total * t + scaled[k]
        return total * q**n
    t = q / p
    for k in range(n + 1):
        total = total * t + scaled[k]
    return total * p**n


class MpBernstein:
    """A Bernstein polynomial in mpmath with its derivative, binomial factors precomputed."""

    def __init__(self, coef):
        n = len(coef) - 1
        self.n = n
        self.scaled = [coef[k] * comb(n, k) for k in range(n + 1)]
        if n > 0:
            self.slope_scaled = [n * (coef[k + 1] - coef[k]) * comb(n - 1, k) for k in range(n)]
        else:
            self.slope_scaled = [mpmath.mpf(0)]

    def __call__(self, p):
        return horner_scaled(self.scaled, p)

    def derivative(self, p):
        return horner_scaled(self.slope_scaled, p)


def mp_bernstein_derivative(coef, p):
    """Evaluate d/dp of :func:`mp_bernstein` as n * sum_k (coef[k+1]-coef[k]) b_{k,n-1}(p)."""
    n = len(coef) - 1
    if n == 0:
        return mpmath.mpf(0)
    differences = [coef[k + 1] - coef[k] for k in range(n)]
    return n * mp_bernstein(differences, p)


def np_bernstein_basis(n: int, p: np.ndarray) -> np.ndarray:
    """Return the float64 matrix b[j, k] = C(n, k) p_j^k (1-p_j)^(n-k).

    Computed through logarithms so no factor overflows; entries that underflow
    are zero, which only matters below 1e-300.
    """
    p = np.asarray(p, dtype=float)
    k = np.arange(n + 1)
    log_binomial = np.array([_log_comb(n, j) for j in k])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(p)[:, None]
        log_q = np.log1p(-p)[:, None]
        terms = log_binomial[None, :] + np.where(k[None, :] > 0, k[None, :] * log_p, 0.0)
        terms = terms + np.where((n - k)[None, :] > 0, (n - k)[None, :] * log_q, 0.0)
    return np.exp(terms)


def np_bernstein_derivative_basis(n: int, p: np.ndarray) -> np.ndarray:
    """Return the matrix D with D @ coef = d/dp B_coef(p), in float64."""
    if n == 0:
        return np.zeros((len(p), 1))
    lower = np_bernstein_basis(n - 1, p)
    derivative = np.zeros((len(p), n + 1))
    derivative[:, 1:] += n * lower
    derivative[:, :-1] -= n * lower
    return derivative


def _log_comb(n: int, k: int) -> float:
    return float(mpmath.log(comb(n, k)))


def exact_bernstein_to_monomial(coef) -> list[Fraction]:
    """Convert exact Bernstein coefficients to monomial ones, in rationals.

    a_j = C(n, j) sum_{k<=j} (-1)^(j-k) C(j, k) coef[k].
    """
    n = len(coef) - 1
    monomial = []
    for j in range(n + 1):
        total = Fraction(0)
        for k in range(j + 1):
            total += (-1) ** (j - k) * comb(j, k) * Fraction(coef[k])
        monomial.append(comb(n, j) * total)
    return monomial


def exact_bernstein(coef, p: Fraction) -> Fraction:
    """Evaluate a Bernstein polynomial exactly at a rational p."""
    n = len(coef) - 1
    p = Fraction(p)
    q = 1 - p
    return sum(Fraction(coef[k]) * comb(n, k) * p**k * q ** (n - k) for k in range(n + 1))
