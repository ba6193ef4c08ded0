"""Least-biased tables: the weighted best polynomial approximation of R.

For a family without an unbiased table (kl and non-integer beta:B), the row
that minimises the worst-case weighted bias sup over 0 < p <= 1 of
|p (B_r(p) - R(p))| is the Bernstein coefficient vector of the polynomial P of
degree n = K - 1 that minimises sup |p (P(p) - R(p))|. This module computes P by
the Remez exchange of :mod:`alftc.remez` and converts it to Bernstein form.

The best error E*_K decays like K**(-2) for kl and like K**(-2b) for beta:b with
0 < b < 2 non-integer, because p R_b(p) has a p**b singularity at 0.

NOTE: the rows are least-biased but not usable as they stand for large K: the
Bernstein coefficients grow like 10**(0.3 K), so the weighted variance
sup p Var_p explodes. See docs/remez.md.
"""

from __future__ import annotations

import math

import mpmath

from alftc.chebyshev import bernstein_value, chebyshev_to_bernstein
from alftc.errors import InputError, SolverError
from alftc.families import Family
from alftc.methods import BuildOptions
from alftc.remez import DEFAULT_TOLERANCE, MinimaxResult, extend_reference, minimax, required_dps
from alftc.rows import MIN_DIGITS, Draft, decimal_string

__all__ = ["NAME", "check", "build", "solve", "minimum_dps", "default_dps", "growth_digits"]

NAME = "remez"

# Relative accuracy to which the stored decimals must reproduce E*_K.
STORED_ACCURACY = mpmath.mpf("1e-20")

# Digits kept above the stored ones in every row computation.
GUARD_DIGITS = 10


def growth_digits(K: int) -> int:
    """Return an upper estimate of log10 max |r_K[c]| for a Remez row.

    A rule of thumb from measurement: log10 max |r_K| was 15.3 (kl) and 17.3
    (beta:0.5) at K = 64, and 34.0 (kl) at K = 128, all below 0.3 K + 1.
    """
    return math.ceil(0.3 * K) + 1


def minimum_dps(K: int, tolerance=DEFAULT_TOLERANCE) -> int:
    """Return the lowest working precision that yields 30 correct stored digits at K."""
    return max(required_dps(tolerance), MIN_DIGITS + growth_digits(K) + GUARD_DIGITS)


def default_dps(K: int, tolerance=DEFAULT_TOLERANCE) -> int:
    """Return the default working precision: :func:`minimum_dps` plus 10 digits."""
    return minimum_dps(K, tolerance) + 10


def _tolerance(options: BuildOptions):
    return mpmath.mpf(options.extra.get("tolerance", DEFAULT_TOLERANCE))


def check(family: Family, K: int, options: BuildOptions) -> None:
    """Raise InputError when this method cannot build (family, K) with ``options``.

    Raises
    ------
    InputError
        For K < 2, for integer b >= 2 (method ``ustat`` builds an exactly
        unbiased table there) and for ``options.dps`` below :func:`minimum_dps`.
    """
    if K < 2:
        raise InputError(f"invalid K = {K} for method remez: K must be >= 2")
    if family.polynomial_degree is not None:
        raise InputError(
            f"method remez does not build {family.name}: R is a polynomial of degree "
            f"{family.polynomial_degree}, so an exactly unbiased table exists for "
            f"K >= {family.polynomial_degree + 1}; use method ustat"
        )
    tolerance = _tolerance(options)
    minimum = minimum_dps(K, tolerance)
    if options.dps is not None and options.dps < minimum:
        raise InputError(
            f"precision too low for remez {family.name} K = {K}: dps = {options.dps}, "
            f"but at least {minimum} digits are needed to store 30 correct digits of "
            f"Bernstein coefficients as large as 10**{growth_digits(K)}; use --dps {minimum} or more"
        )


def _identity(p):
    return p


def solve(family: Family, K: int, options: BuildOptions, reference=None) -> MinimaxResult:
    """Run the Remez exchange for the weighted problem of (family, K)."""
    dps = options.dps or default_dps(K, _tolerance(options))
    return minimax(
        family.target,
        K - 1,
        weight=_identity,
        interval=(0, 1),
        left_open=True,
        reference=reference,
        tolerance=_tolerance(options),
        max_iter=int(options.extra.get("max_iter", 40)),
        dps=dps,
        label=f"{family.name} K = {K}",
    )


def build(family: Family, Ks, options: BuildOptions):
    """Yield one Draft per K: the Bernstein coefficients of the weighted minimax P.

    A K that follows K - 1 in ``Ks`` starts from K - 1's reference mapped by
    :func:`alftc.remez.extend_reference`; any other K starts cold. Both converge
    to the same best approximation, so a chunk of Ks gives the same rows up to
    the tolerance whatever it starts with.

    Raises
    ------
    InputError
        See :func:`check`.
    RemezConvergenceError
        When the exchange does not converge for some K.
    SolverError
        When the stored decimals fail to reproduce E*_K.
    """
    previous = None
    for K in Ks:
        check(family, K, options)
        reference = None
        if previous is not None and previous.degree == K - 2:
            with mpmath.workdps(previous.dps):
                reference = extend_reference(previous.reference, 0, 1, left_open=True)
        result = solve(family, K, options, reference)
        previous = result
        yield _draft(family, K, result)


def _draft(family: Family, K: int, result: MinimaxResult) -> Draft:
    with mpmath.workdps(result.dps):
        beta = chebyshev_to_bernstein(result.coefficients, K - 1)
        largest = max(abs(value) for value in beta)
        digits = MIN_DIGITS + max(0, math.ceil(mpmath.log10(largest)))
        stored = [decimal_string(value, digits) for value in beta]
        _check_stored(family, K, stored, result)

        exponent = 2 * family.b
        if family.b == 1:
            rate = K**2 * result.upper
        else:
            rate = mpmath.power(K, mpmath.mpf(exponent.numerator) / exponent.denominator) * result.upper
        facts = {
            "E_star": decimal_string(result.levelled_error),
            "bracket": [decimal_string(result.lower), decimal_string(result.upper)],
            "relative_bracket_width": decimal_string(result.relative_bracket_width, 5),
            "iterations": result.iterations,
            "alternation_points": [decimal_string(point) for point in result.reference],
            "alternation_signs": list(result.signs),
            "chebyshev_coefficients": [decimal_string(c) for c in result.coefficients],
            "dps": result.dps,
            "tolerance": decimal_string(result.tolerance, 5),
            "rate_constant": decimal_string(rate),
            "log10_max_abs_value": decimal_string(mpmath.log10(largest), 10),
        }
        if family.b != 1:
            facts["rate_exponent"] = decimal_string(mpmath.mpf(exponent.numerator) / exponent.denominator)
        return Draft(K=K, variant="default", values=tuple(beta), exact=False, digits=digits, facts=facts)


def _check_stored(family: Family, K: int, stored, result: MinimaxResult) -> None:
    """Check that the rounded decimals alone reproduce the error at the reference.

    Evaluates p (B_r(p) - R(p)) from the stored strings in Bernstein form, an
    evaluation independent of the Chebyshev one in the exchange, and requires
    |value| to match E*_K with alternating signs to :data:`STORED_ACCURACY`.
    """
    values = [mpmath.mpf(text) for text in stored]
    level = result.levelled_error
    for point, sign in zip(result.reference, result.signs):
        error = point * (bernstein_value(values, point) - family.target(point))
        if abs(sign * error - level) > level * STORED_ACCURACY:
            raise SolverError(
                f"remez {family.name} K = {K}: the stored decimals give weighted error "
                f"{mpmath.nstr(error, 25)} at p = {mpmath.nstr(point, 10)}, but the levelled "
                f"error is {mpmath.nstr(sign * level, 25)}; raise the precision"
            )
