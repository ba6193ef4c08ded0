"""Worst-case weighted bias and variance of a row, as sups over 0 < p <= 1.

Two independent extremum searches compute each sup:

``critical``
    Brackets the sign changes of the derivative f'(p) on a grid, refines each
    root with the Illinois method in mpmath, and takes the largest |f| at the
    roots and at p = 1.
``scan``
    Scans |f| on a different grid, brackets each local maximum, and refines it
    with Brent's derivative-free maximisation in mpmath.

The build records the ``critical`` figure after checking that ``scan`` agrees
with it, and ``alftc verify`` recomputes with ``scan``. Both are written
apart from the Remez engine's own extremum search in :mod:`alftc.remez`, on
purpose: a check of a Remez row must not reuse the solver's code.

Both grids cluster points near p = 0, where the first oscillation of the bias
sits at p ~ 1/K^2, through the maps p = sin^2(theta) and p = t^2 plus
logarithmically spaced points below 1/K^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from alftc.bernstein import (
    MpBernstein,
    mp_bernstein,
)
from alftc.families import Family

__all__ = ["Sup", "bias_sup", "rounding_bias", "variance_sup", "measure_dps", "weighted_bias", "weighted_variance"]

@dataclass(frozen=True)
class Sup:
    """A sup of |f| over 0 < p <= 1.

    Attributes
    ----------
    value
        The sup, an mpf at the working precision.
    argmax
        Where it is attained.
    extrema
        Every local maximum of |f| found, as (p, f(p)) pairs in increasing p.
    method
        ``critical`` or ``scan``.
    """

    value: mpmath.mpf
    argmax: mpmath.mpf
    extrema: tuple
    method: str


def measure_dps(values) -> int:
    """Return a working precision for measuring a row: 40 digits plus its magnitude."""
    largest = max((abs(mpmath.mpf(v)) for v in values), default=mpmath.mpf(1))
    magnitude = int(mpmath.ceil(mpmath.log10(largest))) if largest > 1 else 0
    return 40 + magnitude


def weighted_bias(family: Family, coef, p):
    """Evaluate beta_r(p) = p (B_r(p) - R(p)) in mpmath."""
    p = mpmath.mpf(p)
    return p * (mp_bernstein(coef, p) - family.target(p))


def weighted_variance(coef, p, squares=None):
    """Evaluate p Var_p(r_K[N+1]) = p (B_{r^2}(p) - B_r(p)^2) in mpmath."""
    p = mpmath.mpf(p)
    if squares is None:
        squares = [c * c for c in coef]
    mean = mp_bernstein(coef, p)
    return p * (mp_bernstein(squares, p) - mean * mean)


class _Function:
    """A function f on (0, 1] with its derivative, in mpmath and on float64 grids."""

    def value(self, p):
        raise NotImplementedError

    def derivative(self, p):
        raise NotImplementedError

    def grid_values(self, p: np.ndarray) -> np.ndarray:
        """Evaluate f on a float64 grid, to locate extrema before refining them in mpmath."""
        raise NotImplementedError

    def grid_derivatives(self, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Bias(_Function):
    def __init__(self, family: Family, coef):
        self.family = family
        self.mean = MpBernstein(coef)
        self.mean_series = _chebyshev_series(self.mean)
        self.slope_series = _chebyshev_slope(self.mean_series)

    def value(self, p):
        p = mpmath.mpf(p)
        return p * (self.mean(p) - self.family.target(p))

    def derivative(self, p):
        p = mpmath.mpf(p)
        return (
            self.mean(p) - self.family.target(p)
            + p * (self.mean.derivative(p) - self.family.target_derivative(p))
        )

    def grid_values(self, p):
        mean = _chebyshev_values(self.mean_series, p)
        return p * (mean - self.family_float(p))

    def grid_derivatives(self, p):
        mean = _chebyshev_values(self.mean_series, p)
        slope = _chebyshev_values(self.slope_series, p)
        b = float(self.family.b)
        return mean - self.family_float(p) + p * (slope - p ** (b - 2.0))

    def family_float(self, p):
        return np.array([self.family.target_float(x) for x in p])


class _Variance(_Function):
    def __init__(self, coef):
        self.mean = MpBernstein(coef)
        self.second = MpBernstein([c * c for c in coef])
        self.mean_series = _chebyshev_series(self.mean)
        self.slope_series = _chebyshev_slope(self.mean_series)
        self.second_series = _chebyshev_series(self.second)
        self.second_slope_series = _chebyshev_slope(self.second_series)

    def value(self, p):
        p = mpmath.mpf(p)
        mean = self.mean(p)
        return p * (self.second(p) - mean * mean)

    def derivative(self, p):
        p = mpmath.mpf(p)
        mean = self.mean(p)
        return (
            self.second(p) - mean * mean
            + p * (self.second.derivative(p) - 2 * mean * self.mean.derivative(p))
        )

    def grid_values(self, p):
        mean = _chebyshev_values(self.mean_series, p)
        return p * (_chebyshev_values(self.second_series, p) - mean**2)

    def grid_derivatives(self, p):
        mean = _chebyshev_values(self.mean_series, p)
        slope = _chebyshev_values(self.slope_series, p)
        second = _chebyshev_values(self.second_series, p)
        second_slope = _chebyshev_values(self.second_slope_series, p)
        return second - mean**2 + p * (second_slope - 2 * mean * slope)


def _chebyshev_series(poly: MpBernstein) -> np.ndarray:
    """Interpolate a Bernstein polynomial at n + 1 Chebyshev nodes; return float64 coefficients.

    The values come from the mpmath evaluation, so the series is accurate to
    float64 rounding of B itself, however large the Bernstein coefficients are.
    A Bernstein sum in float64 would lose every digit once they pass 1e16.
    """
    n = poly.n
    nodes = [(1 + mpmath.cos(mpmath.pi * (j + mpmath.mpf(1) / 2) / (n + 1))) / 2 for j in range(n + 1)]
    values = np.array([float(poly(x)) for x in nodes])
    angles = np.pi * (np.arange(n + 1) + 0.5) / (n + 1)
    series = np.array([2.0 / (n + 1) * np.dot(values, np.cos(k * angles)) for k in range(n + 1)])
    series[0] /= 2
    return series


def _chebyshev_values(series: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.polynomial.chebyshev.chebval(2 * p - 1, series)


def _chebyshev_slope(series: np.ndarray) -> np.ndarray:
    if len(series) == 1:
        return np.zeros(1)
    return 2 * np.polynomial.chebyshev.chebder(series)


def bias_sup(family: Family, values, *, dps: int | None = None, method: str = "critical") -> Sup:
    """Return sup over 0 < p <= 1 of |p (B_r(p) - R(p))| for the row ``values``.

    Parameters
    ----------
    family
        The family whose target R the row estimates.
    values
        r_K[1..K] as decimal strings, mpf or Fractions.
    dps
        Working precision; default :func:`measure_dps`.
    method
        ``critical`` or ``scan`` (see the module docstring).
    """
    dps = dps or measure_dps(values)
    with mpmath.workdps(dps):
        coef = [_mpf(v) for v in values]
        return _sup(_Bias(family, coef), coef, method)


def variance_sup(values, *, dps: int | None = None, method: str = "critical") -> Sup:
    """Return sup over 0 < p <= 1 of p Var_p(r_K[N+1]) for the row ``values``."""
    dps = dps or measure_dps(values)
    with mpmath.workdps(dps):
        coef = [_mpf(v) for v in values]
        return _sup(_Variance(coef), coef, method)


def _mpf(value):
    if hasattr(value, "numerator") and not isinstance(value, (mpmath.mpf, float)):
        return mpmath.mpf(value.numerator) / value.denominator
    return mpmath.mpf(value)


def rounding_bias(family: Family, values, *, dps: int | None = None, points: int = 64):
    """Return max |p (B_r(p) - R(p))| over a fixed grid of ``points`` values of p.

    For exact rows, whose bias vanishes identically, this measures what rounding
    the stored decimals left; an extremum search would only chase rounding noise.
    """
    dps = dps or measure_dps(values)
    with mpmath.workdps(dps):
        coef = [mpmath.mpf(v) for v in values]
        grid = [mpmath.sin(mpmath.pi * j / (2 * points)) ** 2 for j in range(1, points + 1)]
        return max(abs(weighted_bias(family, coef, p)) for p in grid)


def _sup(function: _Function, coef, method: str) -> Sup:
    n = len(coef) - 1
    if method == "critical":
        extrema = _critical_points(function, _critical_grid(n))
    elif method == "scan":
        extrema = _scan_maxima(function, _scan_grid(n))
    else:
        raise ValueError(f"unknown sup method {method!r}; use 'critical' or 'scan'")

    one = mpmath.mpf(1)
    extrema.append((one, function.value(one)))
    extrema.sort(key=lambda pair: pair[0])
    argmax, fmax = max(extrema, key=lambda pair: abs(pair[1]))
    return Sup(value=abs(fmax), argmax=argmax, extrema=tuple(extrema), method=method)


def _critical_grid(n: int) -> np.ndarray:
    count = 24 * (n + 2) + 64
    theta = np.linspace(0.0, math.pi / 2, count + 1)[1:]
    near_zero = np.geomspace(1e-14, 1.0 / (n + 1) ** 2, 48)
    return np.unique(np.concatenate([near_zero, np.sin(theta) ** 2]))


def _scan_grid(n: int) -> np.ndarray:
    count = 30 * (n + 2) + 101
    t = np.linspace(0.0, 1.0, count + 1)[1:]
    near_zero = np.geomspace(1e-15, 2.0 / (n + 1) ** 2, 61)
    return np.unique(np.concatenate([near_zero, t**2]))


def _critical_points(function: _Function, grid: np.ndarray) -> list:
    """Find zeros of f' from its sign changes on ``grid``; return (p, f(p)) at each."""
    signs = np.sign(function.grid_derivatives(grid))
    points = []
    for i in range(len(grid) - 1):
        if signs[i] == 0:
            p = mpmath.mpf(float(grid[i]))
            points.append((p, function.value(p)))
        elif signs[i] * signs[i + 1] < 0:
            p = _illinois(function.derivative, mpmath.mpf(float(grid[i])), mpmath.mpf(float(grid[i + 1])))
            points.append((p, function.value(p)))
    return points


def _illinois(g, a, b):
    """Find a root of g in [a, b], where g(a) g(b) < 0, by the Illinois false-position method."""
    ga, gb = g(a), g(b)
    tolerance = mpmath.mpf(10) ** (-(mpmath.mp.dps // 2) - 4)
    side = 0
    for _ in range(200):
        if gb == ga:
            return (a + b) / 2
        c = (a * gb - b * ga) / (gb - ga)
        gc = g(c)
        if gc == 0 or abs(b - a) <= tolerance * abs(c):
            return c
        if mpmath.sign(gc) == mpmath.sign(gb):
            b, gb = c, gc
            if side == -1:
                ga /= 2
            side = -1
        else:
            a, ga = c, gc
            if side == 1:
                gb /= 2
            side = 1
    return c


def _scan_maxima(function: _Function, grid: np.ndarray) -> list:
    """Find local maxima of |f| on ``grid`` and refine each with Brent's method."""
    magnitude = np.abs(function.grid_values(grid))
    points = []
    last = len(grid) - 1
    for i in range(1, last):
        if magnitude[i] >= magnitude[i - 1] and magnitude[i] > magnitude[i + 1]:
            p = _brent_max(
                lambda x: abs(function.value(x)),
                mpmath.mpf(float(grid[i - 1])),
                mpmath.mpf(float(grid[i])),
                mpmath.mpf(float(grid[i + 1])),
            )
            points.append((p, function.value(p)))
    if magnitude[0] > magnitude[1]:
        p = _brent_max(
            lambda x: abs(function.value(x)), mpmath.mpf(0), mpmath.mpf(float(grid[0])), mpmath.mpf(float(grid[1]))
        )
        if p > 0:
            points.append((p, function.value(p)))
    return points


def _brent_max(h, a, x, b):
    """Maximise h on [a, b] from the interior point x (Brent: golden section plus parabolic steps)."""
    golden = (3 - mpmath.sqrt(5)) / 2
    # |h| is flat at a maximum: an error d in x changes h by O(d^2), so x to
    # 1e-15 relative leaves h correct to about 1e-30 relative.
    tolerance = mpmath.mpf(10) ** -15
    w = v = x
    fx = fw = fv = -h(x)
    d = e = mpmath.mpf(0)
    for _ in range(500):
        middle = (a + b) / 2
        tol1 = tolerance * abs(x) + mpmath.mpf(10) ** (-mpmath.mp.dps + 5)
        tol2 = 2 * tol1
        if abs(x - middle) <= tol2 - (b - a) / 2:
            break
        parabolic = False
        if abs(e) > tol1:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            s = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            if q > 0:
                s = -s
            q = abs(q)
            if abs(s) < abs(q * e / 2) and s > q * (a - x) and s < q * (b - x):
                e, d = d, s / q
                u = x + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if middle >= x else -tol1
                parabolic = True
        if not parabolic:
            e = (a - x) if x >= middle else (b - x)
            d = golden * e
        if abs(d) >= tol1:
            u = x + d
        elif d > 0:
            u = x + tol1
        else:
            u = x - tol1
        fu = -h(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x
