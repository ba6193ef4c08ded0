"""``alftc minimax``: solve one weighted minimax problem and print the result.

Exit codes: 0 on success, 1 when the Remez exchange fails (no convergence or a
failed certification check), 2 for invalid options.
"""

from __future__ import annotations

import json

import click
import mpmath

from alftc.chebyshev import chebyshev_to_bernstein
from alftc.errors import InputError, SolverError
from alftc.families import parse_family
from alftc.methods import BuildOptions
from alftc.methods import remez as remez_method
from alftc.remez import minimax

__all__ = ["command", "FUNCTIONS"]


def _xlogx(x):
    return x * mpmath.log(x) if x else mpmath.mpf(0)


def _abs_half(x):
    return abs(x - mpmath.mpf(1) / 2)


# Target functions on [0, 1]: (callable, description, singular at 0).
FUNCTIONS = {
    "xlogx": (_xlogx, "x*log(x)", False),
    "log": (mpmath.log, "log(x)", True),
    "sqrt": (mpmath.sqrt, "sqrt(x)", False),
    "abs": (_abs_half, "|x - 1/2|", False),
}


class ComputationFailed(click.ClickException):
    """The exchange did not converge; exits with alftc's code 3, computation failed."""

    exit_code = 3


def _validate_positive(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"{value} is not a positive integer; pass a value >= 1")
    return value


def _validate_degree(ctx, param, value):
    if value is not None and value < 0:
        raise click.BadParameter(f"{value} is negative; pass a degree >= 0")
    return value


def _validate_family(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_family(value)
    except InputError as error:
        raise click.BadParameter(str(error)) from None


def _validate_tolerance(ctx, param, value):
    try:
        tolerance = mpmath.mpf(value)
    except (ValueError, TypeError):
        raise click.BadParameter(f"{value!r} is not a number; pass a tolerance such as 1e-30") from None
    if not 0 < tolerance < 1:
        raise click.BadParameter(f"{value} is outside (0, 1); pass a tolerance such as 1e-30")
    return tolerance


@click.command(name="minimax")
@click.option("--function", "function", type=click.Choice(sorted(FUNCTIONS)),
              help="Target f on [0, 1]: xlogx = x*log(x), log, sqrt, abs = |x - 1/2|.")
@click.option("--degree", type=int, callback=_validate_degree,
              help="Polynomial degree d (with --function).")
@click.option("--weight", type=click.Choice(["1", "p"]), default="1", show_default=True,
              help="Weight w(x) in sup |w (P - f)| (with --function).")
@click.option("--family", "family", callback=_validate_family,
              help="Table problem: family kl or beta:B, weight p on (0, 1] (with --K).")
@click.option("--K", "K", type=click.IntRange(min=2, max=4096),
              help="Group size K; the table polynomial has degree K - 1 (with --family).")
@click.option("--dps", type=int, callback=_validate_positive,
              help="Working precision in decimal digits [default: sized to the degree].")
@click.option("--tolerance", default="1e-30", show_default=True, callback=_validate_tolerance,
              help="Stop when the relative spread of the extrema is below this.")
@click.option("--max-iter", type=int, default=40, show_default=True, callback=_validate_positive,
              help="Maximum number of Remez exchanges.")
@click.option("--digits", type=int, default=30, show_default=True, callback=_validate_positive,
              help="Significant digits printed for each number.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object with the coefficients instead of text.")
def command(function, degree, weight, family, K, dps, tolerance, max_iter, digits, as_json):
    """Compute a weighted best polynomial approximation by the Remez exchange.

    Either --function F --degree D [--weight 1|p] for sup |w (P - f)| on [0, 1],
    or --family kl|beta:B --K K for the least-biased table of size K.
    """
    if family is not None and function is not None:
        raise click.UsageError("pass either --function with --degree, or --family with --K, not both")
    if family is not None:
        result, bernstein, problem = _solve_family(family, K, dps, tolerance, max_iter)
    elif function is not None:
        result, bernstein, problem = _solve_function(function, degree, weight, dps, tolerance, max_iter)
    else:
        raise click.UsageError("missing problem: pass --function F --degree D, or --family kl --K K")

    if not result.converged:
        click.echo(f"warning: {result.label} did not converge", err=True)
    with mpmath.workdps(result.dps):
        click.echo(_format_json(result, bernstein, problem, digits) if as_json else _format_text(result, problem, digits))


def _solve_function(name, degree, weight, dps, tolerance, max_iter):
    if degree is None:
        raise click.BadParameter("missing degree for --function; pass --degree D", param_hint="--degree")
    f, description, singular = FUNCTIONS[name]
    if singular and weight == "1":
        raise click.BadParameter(
            f"{description} is unbounded at x = 0, so its weight-1 error is infinite; pass --weight p",
            param_hint="--weight",
        )
    weighted = weight == "p"
    problem = f"{description} on [0, 1], weight {'p' if weighted else '1'}, degree {degree}"
    try:
        result = minimax(
            f,
            degree,
            weight=(lambda x: x) if weighted else None,
            left_open=weighted,
            tolerance=tolerance,
            max_iter=max_iter,
            dps=dps,
            label=f"{name} degree {degree}",
        )
    except InputError as error:
        raise click.BadParameter(str(error), param_hint="--dps") from None
    except SolverError as error:
        raise ComputationFailed(str(error)) from None
    with mpmath.workdps(result.dps + 10 + degree // 2):
        bernstein = chebyshev_to_bernstein(result.coefficients)
    return result, bernstein, problem


def _solve_family(family, K, dps, tolerance, max_iter):
    if K is None:
        raise click.BadParameter("missing K for --family; pass --K K", param_hint="--K")
    options = BuildOptions(dps=dps, extra={"tolerance": tolerance, "max_iter": max_iter})
    try:
        remez_method.check(family, K, options)
    except InputError as error:
        raise click.BadParameter(str(error), param_hint="--family/--K/--dps") from None
    try:
        result = remez_method.solve(family, K, options)
    except SolverError as error:
        raise ComputationFailed(str(error)) from None
    with mpmath.workdps(result.dps):
        bernstein = chebyshev_to_bernstein(result.coefficients, K - 1)
    problem = f"{family.name} table K = {K}: p*(P(p) - R(p)) on (0, 1], degree {K - 1}"
    return result, bernstein, problem


def _format_text(result, problem, digits):
    lines = [
        f"problem: {problem}",
        f"E = {mpmath.nstr(result.levelled_error, digits)}",
        f"bracket = [{mpmath.nstr(result.lower, digits)}, {mpmath.nstr(result.upper, digits)}]",
        f"relative bracket width = {mpmath.nstr(result.relative_bracket_width, 3)}",
        f"iterations = {result.iterations}, converged = {str(result.converged).lower()}, dps = {result.dps}",
    ]
    return "\n".join(lines)


def _format_json(result, bernstein, problem, digits):
    def text(x):
        return mpmath.nstr(x, digits, strip_zeros=False)

    document = {
        "problem": problem,
        "degree": result.degree,
        "E": text(result.levelled_error),
        "bracket": [text(result.lower), text(result.upper)],
        "relative_bracket_width": mpmath.nstr(result.relative_bracket_width, 5),
        "iterations": result.iterations,
        "converged": result.converged,
        "dps": result.dps,
        "reference": [text(x) for x in result.reference],
        "signs": list(result.signs),
        "chebyshev_coefficients": [text(c) for c in result.coefficients],
        "bernstein_coefficients": [text(b) for b in bernstein],
    }
    return json.dumps(document, indent=2)
