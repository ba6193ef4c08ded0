"""Weighted minimax polynomial approximation by the Remez exchange, in mpmath.

The problem: given f and a weight w on an interval with ends a < b, find the
polynomial P of degree d that minimises

    E(P) = sup over x in the interval of |w(x) (P(x) - f(x))|.

The interval is [a, b], or (a, b] when ``left_open`` is set. The open form
is for weights with w(a) = 0 where f is singular at a, such as w = p and
f = log p on (0, 1]: there the weighted error tends to 0 at a and the
sup is taken over (a, b].

By the Chebyshev alternation theorem the best P is characterised by d + 2
points where the weighted error e = w (P - f) takes its maximum modulus with
alternating signs. The Remez exchange solves for a P that levels the error on a
trial reference of d + 2 points. It then moves the reference to the d + 2
alternating extrema of the new error and repeats until the extrema are level.

Certification. For any P and any d + 2 points where e alternates in sign,
min |e| over those points is a lower bound on the best error E*
(de la Vallee Poussin), and max |e| over the whole interval is an upper bound
(E* <= E(P)). The result carries both, so [L, U] contains E*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import gmpy2
import mpmath
from mpmath.libmp import to_fixed

from alftc.chebyshev import basis, chebyshev_sum, clenshaw, to_unit
from alftc.errors import InputError, SolverError

__all__ = [
    "MinimaxResult",
    "RemezConvergenceError",
    "minimax",
    "initial_reference",
    "extend_reference",
    "required_dps",
    "DEFAULT_TOLERANCE",
]

DEFAULT_TOLERANCE = mpmath.mpf("1e-30")

# Digits kept beyond the tolerance: extrema are located to about half the
# working digits and the error values there are good to nearly all of them.
GUARD_DIGITS = 12

# Samples per interval between consecutive zeros of the error before the
# local maximisation starts.
SAMPLES = 6

# Points per reference gap in the final scan for extrema the exchange missed.
SCAN_POINTS = 8


class RemezConvergenceError(SolverError):
    """The Remez exchange did not level the error within the iteration limit.

    Attributes
    ----------
    best : MinimaxResult
        The iterate with the smallest upper bound so far (``converged`` False).
    """


@dataclass(frozen=True)
class MinimaxResult:
    """Outcome of the Remez exchange.

    Attributes
    ----------
    degree : int
        Degree d of the polynomial.
    interval : tuple of mpf
        Ends (a, b) of the interval.
    left_open : bool
        True when the sup is over (a, b] rather than [a, b].
    coefficients : tuple of mpf
        Shifted-Chebyshev coefficients of P on [a, b], increasing degree.
    levelled_error : mpf
        |h| from the last levelled-error system.
    lower, upper : mpf
        Certified bracket L <= E* <= U: L is min |e| over the alternating
        reference, U is max |e| over the interval found by the extremum search.
    reference : tuple of mpf
        The d + 2 alternation points of the final error.
    signs : tuple of int
        Sign of e at each reference point; consecutive signs differ.
    iterations : int
        Exchanges performed.
    converged : bool
        True when the spread fell below ``tolerance``.
    spread : mpf
        (max |e| - min |e|) / max |e| over the reference.
    tolerance : mpf
        Spread at which the exchange stops.
    dps : int
        Working precision in decimal digits.
    history : tuple of mpf
        Spread after each iteration.
    label : str
        Name of the problem in messages.
    """

    degree: int
    interval: tuple
    left_open: bool
    coefficients: tuple
    levelled_error: object
    lower: object
    upper: object
    reference: tuple
    signs: tuple
    iterations: int
    converged: bool
    spread: object
    tolerance: object
    dps: int
    history: tuple
    label: str

    @property
    def relative_bracket_width(self):
        """(U - L) / U, or 0 when U is 0."""
        if self.upper == 0:
            return mpmath.mpf(0)
        return (self.upper - self.lower) / self.upper

    def __call__(self, x):
        """Evaluate P(x) at the caller's precision."""
        a, b = self.interval
        return clenshaw(self.coefficients, x, a, b)


class _Problem:
    """The data of one minimax problem and its weighted error function."""

    def __init__(self, f, w, a, b, left_open, d):
        self.f = f
        self.w = w
        self.a = a
        self.b = b
        self.left_open = left_open
        self.d = d

    def error(self, P, x):
        """Weighted error e(x) = w(x) (P(x) - f(x)) of the polynomial callable P."""
        if self.left_open and x == self.a:
            return mpmath.mpf(0)
        value = P(x) - self.f(x)
        if self.w is not None:
            value *= self.w(x)
        return value

    def weight(self, x):
        return mpmath.mpf(1) if self.w is None else self.w(x)


class _FixedPointChebyshev:
    """Shifted-Chebyshev expansion evaluated by Clenshaw in fixed-point integers.

    The exchange evaluates the error tens of thousands of times per iteration,
    and integer arithmetic is about ten times faster than mpf arithmetic. The
    result has absolute accuracy about d**2 2**-(prec + 40): like a
    floating-point Clenshaw sum, whose accuracy is also relative to the size of
    the coefficients, but with 40 guard bits.
    """

    def __init__(self, c, a, b):
        self.bits = mpmath.mp.prec + 40
        self.c = [to_fixed(mpmath.mpf(value)._mpf_, self.bits) for value in c]
        self.a = a
        self.b = b

    def __call__(self, x):
        bits = self.bits
        t = to_fixed(to_unit(x, self.a, self.b)._mpf_, bits)
        t2 = t << 1
        b1 = b2 = 0
        for coefficient in reversed(self.c[1:]):
            b1, b2 = coefficient + ((t2 * b1) >> bits) - b2, b1
        return mpmath.mpf((self.c[0] + ((t * b1) >> bits) - b2, -bits))


def required_dps(tolerance=DEFAULT_TOLERANCE) -> int:
    """Return the smallest working precision that can level the error to ``tolerance``."""
    return int(math.ceil(-float(mpmath.log10(mpmath.mpf(tolerance))))) + GUARD_DIGITS


def initial_reference(d: int, a=0, b=1, left_open: bool = False):
    """Return d + 2 trial points clustered quadratically at both ends.

    The points are x = a + (b - a) sin^2(theta) with equally spaced theta, the
    extrema of the Chebyshev polynomial of degree d + 1. With ``left_open``, a
    itself is replaced by the first angle step, so the first point sits near
    (b - a) (pi / (2 (d + 2)))**2 from a, the scale of the first oscillation
    when w(a) = 0.
    """
    m = d + 2
    a = mpmath.mpf(a)
    width = mpmath.mpf(b) - a
    if left_open:
        thetas = [mpmath.pi * (k + 1) / (2 * m) for k in range(m)]
    else:
        thetas = [mpmath.pi * k / (2 * (m - 1)) for k in range(m)]
    return [a + width * mpmath.sin(theta) ** 2 for theta in thetas]


def extend_reference(reference, a=0, b=1, left_open: bool = False):
    """Map a converged reference of degree d to a trial reference of degree d + 1.

    Each point is written as x = a + (b - a) sin^2(theta) and theta is read as a
    function of the point's rank s in (0, 1]; the new d + 3 ranks are placed by
    linear interpolation in that function, with theta(0) = 0. Use it to
    warm-start K + 1 from K.
    """
    a = mpmath.mpf(a)
    width = mpmath.mpf(b) - a
    m = len(reference)
    thetas = [mpmath.asin(mpmath.sqrt(min(max((x - a) / width, 0), 1))) for x in reference]
    if left_open:
        ranks = [mpmath.mpf(k + 1) / m for k in range(m)]
        new_ranks = [mpmath.mpf(k + 1) / (m + 1) for k in range(m + 1)]
    else:
        ranks = [mpmath.mpf(k) / (m - 1) for k in range(m)]
        new_ranks = [mpmath.mpf(k) / m for k in range(m + 1)]
    ranks = [mpmath.mpf(0)] + ranks
    thetas = [mpmath.mpf(0)] + thetas
    new_points = []
    for s in new_ranks:
        k = 1
        while k < len(ranks) - 1 and ranks[k] < s:
            k += 1
        fraction = (s - ranks[k - 1]) / (ranks[k] - ranks[k - 1])
        theta = thetas[k - 1] + fraction * (thetas[k] - thetas[k - 1])
        new_points.append(a + width * mpmath.sin(theta) ** 2)
    return new_points


def levelled_error(problem: _Problem, x):
    """Solve for P and h with w(x_i) (P(x_i) - f(x_i)) = (-1)**i h on the reference.

    The unknowns are the d + 1 shifted-Chebyshev coefficients of P and h. Row i
    is multiplied through by w(x_i), so a vanishing weight near a never divides.

    Returns
    -------
    (list of mpf, mpf)
        Coefficients c and the signed levelled error h.
    """
    d = problem.d
    rows = []
    for i, xi in enumerate(x):
        wi = problem.weight(xi)
        row = [wi * value for value in basis(xi, d, problem.a, problem.b)]
        row.append(mpmath.mpf(-1 if i % 2 == 0 else 1))
        row.append(wi * problem.f(xi))
        rows.append(row)
    solution = _gauss_solve(rows)
    return solution[:-1], solution[-1]


def _gauss_solve(rows):
    """Solve the augmented system ``rows`` (last column the right side) by Gaussian
    elimination with partial pivoting.

    The elimination runs in gmpy2 mpfr numbers with 20 guard bits above the
    working precision, about seven times faster than mpf arithmetic. The
    solution is rounded back to mpf.
    """
    bits = mpmath.mp.prec + 20
    with gmpy2.context(gmpy2.get_context(), precision=bits):
        rows = [[_to_mpfr(value) for value in row] for row in rows]
        solution = _eliminate(rows)
    return [_from_mpfr(value) for value in solution]


def _to_mpfr(x):
    sign, man, exp, _ = mpmath.mpf(x)._mpf_
    value = gmpy2.mul_2exp(gmpy2.mpfr(man), exp)
    return -value if sign else value


def _from_mpfr(y):
    man, exp = y.as_mantissa_exp()
    return mpmath.mpf((int(man), int(exp)))


def _eliminate(rows):
    n = len(rows)
    for k in range(n):
        pivot = max(range(k, n), key=lambda i: abs(rows[i][k]))
        if rows[pivot][k] == 0:
            raise SolverError("levelled-error system is singular: reference points coincide")
        rows[k], rows[pivot] = rows[pivot], rows[k]
        top = rows[k]
        inverse = 1 / top[k]
        for i in range(k + 1, n):
            row = rows[i]
            factor = row[k] * inverse
            if factor:
                row[k:] = [value - factor * pivot_value for value, pivot_value in zip(row[k:], top[k:])]
    solution = [gmpy2.mpfr(0)] * n
    for k in range(n - 1, -1, -1):
        row = rows[k]
        total = row[n] - gmpy2.fsum([row[j] * solution[j] for j in range(k + 1, n)])
        solution[k] = total / row[k]
    return solution


def _sign(value) -> int:
    if value > 0:
        return 1
    if value < 0:
        return -1
    return 0


def _find_zero(g, lo, hi, g_lo, g_hi, rel):
    """Return a point where g changes sign in (lo, hi) by the Illinois method.

    The bracket shrinks until its width is below ``rel`` times the starting
    width; only a separating point is needed, not a precise zero.
    """
    width = (hi - lo) * rel
    side = 0
    for _ in range(200):
        if g_hi == g_lo:
            x = (lo + hi) / 2
        else:
            x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        if not lo < x < hi:
            x = (lo + hi) / 2
        gx = g(x)
        if gx == 0:
            return x
        if _sign(gx) == _sign(g_lo):
            lo, g_lo = x, gx
            if side == -1:
                g_hi /= 2
            side = -1
        else:
            hi, g_hi = x, gx
            if side == 1:
                g_lo /= 2
            side = 1
        if hi - lo < width:
            break
    return (lo + hi) / 2


def _maximise(g, lo, hi, x, gx, eps):
    """Maximise g on [lo, hi] from the interior point x by Brent's method.

    Golden-section steps with parabolic interpolation; the step size
    sqrt(eps) |x| leaves g accurate to about eps relative at the maximum.

    Returns
    -------
    (mpf, mpf)
        The maximiser and the value of g there.
    """
    golden = (3 - mpmath.sqrt(5)) / 2
    root_eps = mpmath.sqrt(eps)
    tiny = eps * (hi - lo)
    v = w = x
    gv = gw = gx
    step = previous = mpmath.mpf(0)
    for _ in range(400):
        middle = (lo + hi) / 2
        tol1 = root_eps * abs(x) + tiny
        tol2 = 2 * tol1
        if abs(x - middle) <= tol2 - (hi - lo) / 2:
            break
        use_golden = True
        if abs(previous) > tol1:
            # Parabola through (x, gx), (w, gw), (v, gv); its vertex is x + p / q.
            r = (x - w) * (gx - gv)
            q = (x - v) * (gx - gw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            older = previous
            previous = step
            if abs(p) < abs(q * older / 2) and q * (lo - x) < p < q * (hi - x):
                step = p / q
                u = x + step
                if u - lo < tol2 or hi - u < tol2:
                    step = tol1 if middle >= x else -tol1
                use_golden = False
        if use_golden:
            previous = (lo - x) if x >= middle else (hi - x)
            step = golden * previous
        if abs(step) >= tol1:
            u = x + step
        elif step > 0:
            u = x + tol1
        else:
            u = x - tol1
        gu = g(u)
        if gu >= gx:
            if u >= x:
                lo = x
            else:
                hi = x
            v, gv, w, gw, x, gx = w, gw, x, gx, u, gu
        else:
            if u < x:
                lo = u
            else:
                hi = u
            if gu >= gw or w == x:
                v, gv, w, gw = w, gw, u, gu
            elif gu >= gv or v == x or v == w:
                v, gv = u, gu
    return x, gx


def _local_max(g, lo, hi, seed, lo_closed, hi_closed, eps, geometric):
    """Return (x, g(x)) at the largest local maximum of g on [lo, hi] seen from samples.

    ``seed`` is an interior point, normally the previous reference point.
    ``geometric`` adds samples at seed / 2**k, which reach down to the 1/K^2
    scale of the first oscillation when the interval starts at a vanishing
    weight. An end marked closed is a candidate maximiser itself.
    """
    xs = {seed}
    for k in range(1, SAMPLES + 1):
        xs.add(lo + (hi - lo) * k / (SAMPLES + 1))
    if geometric:
        for k in range(1, 11):
            xs.add(seed / 2**k)
    xs = sorted(x for x in xs if lo < x < hi)
    samples = [(x, g(x)) for x in xs]
    if lo_closed:
        samples.insert(0, (lo, g(lo)))
    if hi_closed:
        samples.append((hi, g(hi)))
    j = max(range(len(samples)), key=lambda i: samples[i][1])
    x, gx = samples[j]

    left = samples[j - 1][0] if j > 0 else lo
    right = samples[j + 1][0] if j + 1 < len(samples) else hi
    if x == lo or x == hi:
        # The best sample is a closed end: keep it unless g rises just inside.
        inner = samples[j + 1][0] if x == lo else samples[j - 1][0]
        probe = x + (inner - x) * mpmath.sqrt(eps)
        if g(probe) <= gx:
            return x, gx
        left, right = (x, inner) if x == lo else (inner, x)
        x, gx = probe, g(probe)
    return _maximise(g, left, right, x, gx, eps)


def find_extrema(problem: _Problem, c, x, eps):
    """Return the d + 2 alternating extrema of the error of c near the reference x.

    The error alternates in sign on x, so it has a zero between each pair of
    consecutive reference points. Between consecutive zeros (and the interval
    ends) the error keeps one sign, and its largest modulus there is the new
    reference point.

    Returns
    -------
    (list of mpf, list of mpf)
        Points and signed error values.
    """
    P = _FixedPointChebyshev(c, problem.a, problem.b)

    def e(t):
        return problem.error(P, t)

    values = [e(t) for t in x]
    zeros = []
    for i in range(len(x) - 1):
        zeros.append(_find_zero(e, x[i], x[i + 1], values[i], values[i + 1], mpmath.mpf(10) ** -12))

    ends = [problem.a] + zeros + [problem.b]
    points, extrema = [], []
    for i, xi in enumerate(x):
        s = _sign(values[i])

        def g(t, s=s):
            return s * e(t)

        lo, hi = ends[i], ends[i + 1]
        lo_closed = i == 0 and not problem.left_open
        hi_closed = i == len(x) - 1
        geometric = i == 0 and problem.left_open
        t, gt = _local_max(g, lo, hi, xi, lo_closed, hi_closed, eps, geometric)
        points.append(t)
        extrema.append(s * gt)
    return points, extrema


def scan(problem: _Problem, c, points, values, eps):
    """Look for local maxima of |e| that the exchange missed.

    Samples |e| at ``SCAN_POINTS`` points in each gap between consecutive
    alternation points and between them and the interval ends, and refines
    every sampled local maximum that is not next to a known extremum.

    Returns
    -------
    list of (mpf, mpf)
        Extra extrema as (point, signed error), possibly empty.
    """
    P = _FixedPointChebyshev(c, problem.a, problem.b)

    def e(t):
        return problem.error(P, t)

    grid = []
    if problem.left_open:
        grid += [points[0] / 2**k for k in range(12, 0, -1)]
    else:
        grid.append(problem.a)
    edges = [problem.a] + list(points) + [problem.b]
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == problem.a and problem.left_open:
            continue
        grid += [lo + (hi - lo) * k / (SCAN_POINTS + 1) for k in range(1, SCAN_POINTS + 1)]
    grid += list(points) + [problem.b]
    grid = sorted(set(grid))
    known = set(points)
    magnitudes = [abs(e(t)) for t in grid]

    extra = []
    for k, t in enumerate(grid):
        if t in known:
            continue
        left = magnitudes[k - 1] if k > 0 else mpmath.mpf(-1)
        right = magnitudes[k + 1] if k + 1 < len(grid) else mpmath.mpf(-1)
        if magnitudes[k] < left or magnitudes[k] < right:
            continue
        neighbours = {grid[k - 1] if k > 0 else None, grid[k + 1] if k + 1 < len(grid) else None}
        if neighbours & known:
            continue
        s = _sign(e(t))

        def g(u, s=s):
            return s * e(u)

        lo = grid[k - 1] if k > 0 else t
        hi = grid[k + 1] if k + 1 < len(grid) else t
        if lo == t or hi == t:
            u, gu = t, magnitudes[k]
        else:
            u, gu = _maximise(g, lo, hi, t, magnitudes[k], eps)
        extra.append((u, s * gu))
    return extra


def exchange(candidates, count):
    """Select ``count`` alternating extrema from (point, signed error) candidates.

    Runs of one sign keep their largest member; while too many remain, the
    smaller of the two end points is dropped, which keeps alternation and the
    largest extremum.
    """
    candidates = sorted(candidates, key=lambda item: item[0])
    merged = []
    for point, value in candidates:
        if merged and _sign(merged[-1][1]) == _sign(value):
            if abs(value) > abs(merged[-1][1]):
                merged[-1] = (point, value)
        else:
            merged.append((point, value))
    while len(merged) > count:
        if abs(merged[0][1]) < abs(merged[-1][1]):
            merged.pop(0)
        else:
            merged.pop()
    return merged


def _spread(values):
    magnitudes = [abs(v) for v in values]
    top = max(magnitudes)
    if top == 0:
        return mpmath.mpf(0)
    return (top - min(magnitudes)) / top


def _alternates(values) -> bool:
    signs = [_sign(v) for v in values]
    return all(s != 0 for s in signs) and all(s * t < 0 for s, t in zip(signs[:-1], signs[1:]))


def minimax(
    f: Callable,
    degree: int,
    *,
    weight: Callable | None = None,
    interval=(0, 1),
    left_open: bool = False,
    reference=None,
    tolerance=DEFAULT_TOLERANCE,
    max_iter: int = 40,
    dps: int | None = None,
    label: str | None = None,
) -> MinimaxResult:
    """Compute the weighted best polynomial approximation by the Remez exchange.

    Parameters
    ----------
    f : callable
        Target, called with an mpf at the working precision; returns an mpf.
        With ``left_open`` it is never called at the left end.
    degree : int
        Degree d >= 0 of P.
    weight : callable, optional
        Weight w(x) > 0 on the open interval; None means w = 1.
    interval : (number, number), optional
        Ends a < b, (0, 1) by default. Numbers are read with mpmath.mpf, so pass
        strings for exact decimals.
    left_open : bool, optional
        Take the sup over (a, b] instead of [a, b]; use it when w(a) = 0 and f
        is singular at a.
    reference : sequence, optional
        Trial reference of d + 2 increasing points (a warm start), for example
        from :func:`extend_reference`. Defaults to :func:`initial_reference`.
    tolerance : number, optional
        Stop when (max |e| - min |e|) / max |e| over the reference is below it.
    max_iter : int, optional
        Maximum number of exchanges.
    dps : int, optional
        Working precision in decimal digits, default :func:`required_dps` of
        the tolerance plus d / 4 digits for the growth of the coefficients.
    label : str, optional
        Name of the problem in error messages, default ``degree d``.

    Returns
    -------
    MinimaxResult

    Raises
    ------
    InputError
        When the degree, interval, reference or precision is invalid.
    RemezConvergenceError
        When the spread is still above the tolerance after ``max_iter``
        exchanges; ``best`` carries the iterate with the smallest upper bound.
    SolverError
        When the levelled-error system is singular or the certification
        check fails.
    """
    if degree < 0:
        raise InputError(f"invalid degree {degree}: the degree must be >= 0")
    label = label or f"degree {degree}"
    minimum = required_dps(tolerance)
    if dps is None:
        dps = minimum + degree // 4
    if dps < minimum:
        raise InputError(
            f"precision too low for {label}: dps = {dps} cannot level the error to "
            f"tolerance {mpmath.nstr(mpmath.mpf(tolerance), 3)}; use dps >= {minimum}"
        )

    with mpmath.workdps(dps):
        a, b = mpmath.mpf(interval[0]), mpmath.mpf(interval[1])
        if not a < b:
            raise InputError(f"invalid interval ({interval[0]}, {interval[1]}): need a < b")
        problem = _Problem(f, weight, a, b, left_open, degree)
        if reference is None:
            x = initial_reference(degree, a, b, left_open)
        else:
            x = [mpmath.mpf(t) for t in reference]
            _check_reference(x, problem, label)
        return _exchange_loop(problem, x, mpmath.mpf(tolerance), max_iter, dps, label)


def _check_reference(x, problem, label):
    count = problem.d + 2
    if len(x) != count:
        raise InputError(f"invalid reference for {label}: {len(x)} points, expected d + 2 = {count}")
    low_ok = (lambda t: t > problem.a) if problem.left_open else (lambda t: t >= problem.a)
    if not all(low_ok(t) and t <= problem.b for t in x):
        raise InputError(f"invalid reference for {label}: points must lie in the interval")
    if not all(s < t for s, t in zip(x[:-1], x[1:])):
        raise InputError(f"invalid reference for {label}: points must be strictly increasing")


def _exchange_loop(problem, x, tolerance, max_iter, dps, label):
    eps = mpmath.mpf(10) ** (-dps + 2)
    history = []
    best = None
    restarted = False
    count = problem.d + 2
    for iteration in range(1, max_iter + 1):
        # Trial polynomial levelling the error on the reference.
        c, h = levelled_error(problem, x)
        if _is_degenerate(problem, x, h, eps):
            top = _grid_max(problem, c)
            if top <= mpmath.sqrt(eps) * _scale(problem, x):
                # f is a polynomial of degree <= d: P = f and E* = 0.
                return _exact(problem, c, x, top, iteration, tolerance, dps, history, label)
            if restarted:
                raise SolverError(f"Remez exchange for {label}: the levelled error vanishes on two references")
            # A symmetric reference can level a symmetric f with h = 0 although
            # E* > 0; restart from an asymmetric one.
            x = initial_reference(problem.d + 1, problem.a, problem.b, problem.left_open)[:-1]
            restarted = True
            continue

        # New reference at the alternating extrema.
        points, values = find_extrema(problem, c, x, eps)
        spread = _spread(values)
        history.append(spread)
        result = _result(problem, c, h, points, values, [], iteration, False, tolerance, dps, history, label)
        if best is None or result.upper < best.upper:
            best = result

        if spread < tolerance:
            extra = scan(problem, c, points, values, eps)
            top = max(abs(v) for v in values)
            if all(abs(v) <= top * (1 + tolerance) for _, v in extra):
                return _certify(problem, c, h, points, values, extra, iteration, tolerance, dps, history, label)
            chosen = exchange(list(zip(points, values)) + extra, count)
        else:
            chosen = list(zip(points, values))
        x = [point for point, _ in chosen]

    spread = "undefined" if best is None else mpmath.nstr(best.spread, 3)
    raise RemezConvergenceError(
        f"Remez exchange for {label} did not converge: spread {spread} after iteration "
        f"{max_iter} (max_iter) is above the tolerance {mpmath.nstr(tolerance, 3)}; raise "
        f"max_iter or the precision, or pass a better reference",
        best=best,
    )


def _scale(problem, x):
    """Return max |w(x_i) f(x_i)| over the reference, at least 1e-300."""
    return max([abs(problem.weight(t) * problem.f(t)) for t in x] + [mpmath.mpf("1e-300")])


def _is_degenerate(problem, x, h, eps) -> bool:
    """Return True when the levelled error h is zero up to rounding."""
    return abs(h) <= mpmath.sqrt(eps) * _scale(problem, x)


def _grid_max(problem, c):
    """Return max |e| over 4 d + 16 points clustered at both ends."""
    grid = initial_reference(4 * problem.d + 14, problem.a, problem.b, problem.left_open)
    P = _FixedPointChebyshev(c, problem.a, problem.b)
    return max(abs(problem.error(P, t)) for t in grid)


def _exact(problem, c, x, top, iteration, tolerance, dps, history, label):
    """Return the result for a polynomial f: E* = 0, and U is the grid maximum of |e|."""
    zero = mpmath.mpf(0)
    return MinimaxResult(
        degree=problem.d,
        interval=(problem.a, problem.b),
        left_open=problem.left_open,
        coefficients=tuple(c),
        levelled_error=zero,
        lower=zero,
        upper=top,
        reference=tuple(x),
        signs=tuple(0 for _ in x),
        iterations=iteration,
        converged=True,
        spread=zero,
        tolerance=tolerance,
        dps=dps,
        history=tuple(history),
        label=label,
    )


def _result(problem, c, h, points, values, extra, iteration, converged, tolerance, dps, history, label):
    magnitudes = [abs(v) for v in values] + [abs(v) for _, v in extra]
    upper = max(magnitudes)
    lower = min(abs(v) for v in values) if _alternates(values) else mpmath.mpf(0)
    return MinimaxResult(
        degree=problem.d,
        interval=(problem.a, problem.b),
        left_open=problem.left_open,
        coefficients=tuple(c),
        levelled_error=abs(h),
        lower=lower,
        upper=upper,
        reference=tuple(points),
        signs=tuple(_sign(v) for v in values),
        iterations=iteration,
        converged=converged,
        spread=_spread(values),
        tolerance=tolerance,
        dps=dps,
        history=tuple(history),
        label=label,
    )


def _certify(problem, c, h, points, values, extra, iteration, tolerance, dps, history, label):
    """Check alternation and recompute the error at the reference a second way.

    The second evaluation sums the Chebyshev basis directly (not Clenshaw) with
    10 extra digits; the two must agree far below the tolerance.
    """
    if not _alternates(values):
        raise SolverError(f"Remez exchange for {label}: the final reference does not alternate in sign")
    with mpmath.extraprec(34):
        for point, value in zip(points, values):
            if problem.left_open and point == problem.a:
                continue
            second = problem.weight(point) * (chebyshev_sum(c, point, problem.a, problem.b) - problem.f(point))
            if abs(second - value) > abs(value) * tolerance / 100:
                raise SolverError(
                    f"Remez exchange for {label}: error at x = {mpmath.nstr(point, 10)} is "
                    f"{mpmath.nstr(value, 20)} by Clenshaw but {mpmath.nstr(second, 20)} by a "
                    f"direct sum; raise the precision"
                )
    return _result(problem, c, h, points, values, extra, iteration, True, tolerance, dps, history, label)
