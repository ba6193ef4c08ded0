"""Shifted Chebyshev polynomials on an interval [a, b], in mpmath.

The shifted Chebyshev polynomial of degree j on [a, b] is T*_j(x) = T_j(t) with
t = (2x - a - b) / (b - a). Coefficient vectors are in increasing degree, as in
:mod:`numpy.polynomial`. Everything here runs at the caller's mpmath precision.

The table rows are Bernstein coefficients on [0, 1], so this module also
converts a shifted-Chebyshev expansion to the Bernstein basis of degree n. The
conversion matrix is exact: T*_j has the degree-j Bernstein coefficients
(-1)**(j - k) C(2j, 2k) / C(j, k), k = 0..j, and degree elevation to n
multiplies by C(j, k) C(n - j, i - k) / C(n, i). The tests check the product
in exact rational arithmetic.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb

import mpmath

__all__ = [
    "to_unit",
    "clenshaw",
    "basis",
    "chebyshev_sum",
    "bernstein_integer_matrix",
    "chebyshev_to_bernstein",
    "bernstein_value",
]


def to_unit(x, a=0, b=1):
    """Map x in [a, b] to t = (2x - a - b) / (b - a) in [-1, 1]."""
    x = mpmath.mpf(x)
    if a == 0 and b == 1:
        return 2 * x - 1
    return (2 * x - a - b) / (mpmath.mpf(b) - a)


def clenshaw(c, x, a=0, b=1):
    """Evaluate sum_j c[j] T*_j(x) by Clenshaw's recurrence.

    Parameters
    ----------
    c : sequence of mpf
        Shifted-Chebyshev coefficients in increasing degree.
    x : mpf
        Point in [a, b].
    a, b : number, optional
        Interval of the shifted basis, [0, 1] by default.

    Returns
    -------
    mpf
        The value of the expansion at x.
    """
    t = to_unit(x, a, b)
    t2 = 2 * t
    b1 = b2 = mpmath.mpf(0)
    for coefficient in reversed(c[1:]):
        b1, b2 = coefficient + t2 * b1 - b2, b1
    return c[0] + t * b1 - b2


def basis(x, d, a=0, b=1):
    """Return [T*_0(x), ..., T*_d(x)] by the three-term recurrence."""
    t = to_unit(x, a, b)
    values = [mpmath.mpf(1), t]
    for _ in range(2, d + 1):
        values.append(2 * t * values[-1] - values[-2])
    return values[: d + 1]


def chebyshev_sum(c, x, a=0, b=1):
    """Evaluate sum_j c[j] T*_j(x) as a plain sum over :func:`basis`.

    A second evaluation route, independent of :func:`clenshaw`, used to check
    certified values.
    """
    return mpmath.fsum(coefficient * value for coefficient, value in zip(c, basis(x, len(c) - 1, a, b)))


@lru_cache(maxsize=8)
def bernstein_integer_matrix(n: int) -> tuple[tuple[int, ...], ...]:
    """Return integers N[i][j] with T*_j(x) = sum_i N[i][j] / C(n, i) * b_{i,n}(x).

    Here b_{i,n}(x) = C(n, i) x**i (1 - x)**(n - i) is the Bernstein basis of
    degree n on [0, 1] and j = 0..n. The entries are exact, so the only rounding
    in :func:`chebyshev_to_bernstein` is in the final products and sums.
    """
    rows = [[0] * (n + 1) for _ in range(n + 1)]
    for j in range(n + 1):
        even = [comb(2 * j, 2 * k) * (-1) ** (j - k) for k in range(j + 1)]
        elevation = [comb(n - j, m) for m in range(n - j + 1)]
        for i in range(n + 1):
            total = 0
            for k in range(max(0, i - (n - j)), min(i, j) + 1):
                total += even[k] * elevation[i - k]
            rows[i][j] = total
    return tuple(tuple(row) for row in rows)


def chebyshev_to_bernstein(c, n: int | None = None):
    """Convert shifted-Chebyshev coefficients on [0, 1] to Bernstein coefficients.

    Parameters
    ----------
    c : sequence of mpf
        Coefficients of sum_j c[j] T*_j(x), increasing degree.
    n : int, optional
        Bernstein degree, at least ``len(c) - 1`` (the default).

    Returns
    -------
    list of mpf
        beta[0..n] with sum_j c[j] T*_j(x) = sum_i beta[i] b_{i,n}(x).

    Notes
    -----
    The Bernstein coefficients of a good approximation can be many orders of
    magnitude larger than its values on [0, 1], so the sum cancels: about
    log10(max |beta| / max |c|) digits are lost. Run this with that many guard
    digits above the digits you need.
    """
    d = len(c) - 1
    n = d if n is None else n
    if n < d:
        raise ValueError(f"Bernstein degree n = {n} is below the polynomial degree {d}")
    matrix = bernstein_integer_matrix(n)
    coefficients = list(c) + [mpmath.mpf(0)] * (n - d)
    beta = []
    for i in range(n + 1):
        row = matrix[i]
        total = mpmath.fsum(coefficients[j] * row[j] for j in range(d + 1) if row[j])
        beta.append(total / comb(n, i))
    return beta


def bernstein_value(beta, p):
    """Evaluate sum_k beta[k] C(n, k) p**k (1 - p)**(n - k) with n = len(beta) - 1."""
    p = mpmath.mpf(p)
    n = len(beta) - 1
    q = 1 - p
    terms = []
    for k, coefficient in enumerate(beta):
        terms.append(coefficient * comb(n, k) * p**k * q ** (n - k))
    return mpmath.fsum(terms)
