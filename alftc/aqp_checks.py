"""Method-level checks of ``aqp`` rows for ``alftc verify``.

The checks recompute the plug-in's worst-case bias and variance with the
``scan`` search of :mod:`alftc.measure` (the build used ``critical``) and
compare every aqp row with its budget. A row's own bias and variance are taken
from the row: ``alftc verify`` recomputes those separately and compares them
with the record to 1e-20.

Rates. E*_K decays like K^-a with a = 2 for kl and a = 2B for non-integer
beta:B, because p R(p) behaves like p log p or p^B at 0. A default row whose
budget is lambda E*_K must decay at the same rate.
"""

from __future__ import annotations

import math

import mpmath

from alftc.families import parse_family
from alftc.measure import bias_sup, variance_sup
from alftc.methods.plugin import plugin_values
from alftc.rows import Row

__all__ = ["check_aqp", "rate_exponent"]

# Relative slack on a budget: the build lands in [budget (1 - 1e-9), budget].
BUDGET_SLACK = mpmath.mpf("1e-9")

# Relative agreement of the recorded E*_K or plug-in figures with a recomputation.
FIGURE_AGREEMENT = mpmath.mpf("1e-15")

# Fitted log-log slope of the default rows' bias must be -a within this.
SLOPE_TOLERANCE = 0.15

# The fit uses K >= this.
SLOPE_MIN_K = 16

_DPS = 40


def rate_exponent(family) -> float:
    """Return a in E*_K ~ K^-a: 2 for kl, 2B for non-integer beta:B."""
    if family.b == 1:
        return 2.0
    return 2.0 * float(family.b)


def check_aqp(family: str, variant: str, members: list[Row], all_rows: list[Row], report) -> None:
    """Check one (family, aqp, variant) group of rows, sorted by K.

    Parameters
    ----------
    family, variant
        The group's family name and variant (``default``, ``lambda=L``, ``rho=R``).
    members
        The group's rows, sorted by K.
    all_rows
        Every row of the table; a ``remez`` row of the same family and K
        cross-checks the recorded E*_K.
    report
        Receives ``report.add(subject, name, passed, detail)``.
    """
    parsed = parse_family(family)
    subject = f"{family}/aqp/{variant}"
    inexact = [row for row in members if not row.exact]
    for row in members:
        if row.exact:
            report.add(row.key, "aqp exact part", parsed.polynomial_degree is not None,
                       "exact rows are U-statistic tables of a polynomial target")
    if not inexact:
        return

    figures = {}
    for row in inexact:
        figures[row.K] = _row_figures(row, parsed, all_rows, report)
        if figures[row.K] is None:
            continue
        if variant == "default" or variant.startswith("lambda="):
            _check_bias_budget(row, variant, figures[row.K], report)
        elif variant.startswith("rho="):
            _check_variance_budget(row, variant, figures[row.K], report)
        else:
            report.add(row.key, "aqp variant", False, f"unknown aqp variant {variant!r}")

    if variant == "default":
        _check_rate(subject, parsed, inexact, figures, report)


def _row_figures(row: Row, family, all_rows: list[Row], report):
    """Recompute the plug-in's figures and cross-check the recorded ones and E*_K."""
    facts = row.facts
    try:
        e_star = mpmath.mpf(facts["E_star"])
        recorded_bias = mpmath.mpf(facts["plugin_bias"])
        recorded_variance = mpmath.mpf(facts["plugin_variance"])
    except (KeyError, ValueError, TypeError) as error:
        report.add(row.key, "aqp facts", False, f"missing or invalid fact: {error}")
        return None

    with mpmath.workdps(_DPS):
        values = plugin_values(family, row.K)
        plugin_bias = bias_sup(family, values, dps=_DPS, method="scan").value
        plugin_variance = variance_sup(values, dps=_DPS, method="scan").value
        _agree(report, row.key, "aqp plug-in bias recomputed", recorded_bias, plugin_bias)
        _agree(report, row.key, "aqp plug-in variance recomputed", recorded_variance, plugin_variance)

        remez = [other for other in all_rows
                 if other.method == "remez" and other.family == row.family and other.K == row.K]
        for other in remez:
            if "E_star" in other.facts:
                _agree(report, row.key, "aqp E*_K matches remez row", mpmath.mpf(other.facts["E_star"]), e_star)

        return {
            "e_star": e_star,
            "plugin_bias": plugin_bias,
            "plugin_variance": plugin_variance,
            "bias": mpmath.mpf(row.bias_decimal),
            "variance": mpmath.mpf(row.variance_decimal),
        }


def _agree(report, subject: str, name: str, expected, actual) -> None:
    difference = abs(expected - actual)
    scale = max(abs(expected), abs(actual))
    report.add(subject, name, difference <= FIGURE_AGREEMENT * scale,
               f"{mpmath.nstr(expected, 15)} versus {mpmath.nstr(actual, 15)}")


def _check_bias_budget(row: Row, variant: str, figures: dict, report) -> None:
    bias, variance = figures["bias"], figures["variance"]
    plugin_bias, plugin_variance = figures["plugin_bias"], figures["plugin_variance"]
    e_star = figures["e_star"]
    lam = mpmath.mpf(row.facts.get("lambda", "nan"))
    if variant.startswith("lambda="):
        expected = mpmath.mpf(variant.split("=", 1)[1])
        report.add(row.key, "aqp lambda recorded", lam == expected,
                   f"variant {variant}, fact lambda = {row.facts.get('lambda')}")

    budget = lam * e_star
    if variant == "default":
        budget = min(budget, plugin_bias)
    report.add(row.key, "aqp bias within budget", bias <= budget * (1 + BUDGET_SLACK),
               f"bias {mpmath.nstr(bias, 12)}, budget {mpmath.nstr(budget, 12)} "
               f"(lambda {mpmath.nstr(lam, 6)}, E*_K {mpmath.nstr(e_star, 12)})")
    report.add(row.key, "aqp bias above E*_K", bias >= e_star * (1 - BUDGET_SLACK),
               f"bias {mpmath.nstr(bias, 12)}, E*_K {mpmath.nstr(e_star, 12)}")
    if variant != "default":
        return

    report.add(row.key, "aqp variance at most twice plug-in's", variance <= 2 * plugin_variance,
               f"variance {mpmath.nstr(variance, 8)}, plug-in {mpmath.nstr(plugin_variance, 8)}")
    if row.K == 64:
        report.add(row.key, "aqp bias at most plug-in's / 4 at K = 64", bias <= plugin_bias / 4,
                   f"bias {mpmath.nstr(bias, 8)}, plug-in {mpmath.nstr(plugin_bias, 8)}")


def _check_variance_budget(row: Row, variant: str, figures: dict, report) -> None:
    try:
        rho = mpmath.mpf(variant.split("=", 1)[1])
    except ValueError:
        report.add(row.key, "aqp variant", False, f"invalid variance budget in variant {variant!r}")
        return
    variance, plugin_variance = figures["variance"], figures["plugin_variance"]
    report.add(row.key, "aqp variance within budget", variance <= rho * plugin_variance * (1 + BUDGET_SLACK),
               f"variance {mpmath.nstr(variance, 12)}, budget {mpmath.nstr(rho * plugin_variance, 12)}")
    if rho == 1 and row.K == 64:
        bias, plugin_bias = figures["bias"], figures["plugin_bias"]
        report.add(row.key, "aqp iso-variance bias 1.5x below plug-in's at K = 64", 1.5 * bias <= plugin_bias,
                   f"bias {mpmath.nstr(bias, 8)}, plug-in {mpmath.nstr(plugin_bias, 8)}")


def _check_rate(subject: str, family, rows: list[Row], figures: dict, report) -> None:
    """Check K^a ||beta|| <= lambda max K^a E*_K and the fitted slope over the lambda E*_K rows."""
    a = rate_exponent(family)
    usable = [row for row in rows if figures.get(row.K) is not None]
    if not usable:
        return
    lam = mpmath.mpf(usable[0].facts.get("lambda", "nan"))
    largest = max(mpmath.mpf(row.K) ** a * figures[row.K]["e_star"] for row in usable)
    worst = max(mpmath.mpf(row.K) ** a * figures[row.K]["bias"] for row in usable)
    report.add(subject, f"aqp K^{a:g} bias at most lambda max K^{a:g} E*_K",
               worst <= lam * largest * (1 + BUDGET_SLACK),
               f"max K^{a:g} bias {mpmath.nstr(worst, 8)}, lambda max K^{a:g} E*_K {mpmath.nstr(lam * largest, 8)}")

    # The slope is fitted where the budget is lambda E*_K, not the plug-in's bias.
    fitted = [row for row in usable
              if row.K >= SLOPE_MIN_K and lam * figures[row.K]["e_star"] < figures[row.K]["plugin_bias"]]
    if len(fitted) < 3:
        return
    xs = [math.log(row.K) for row in fitted]
    ys = [math.log(float(figures[row.K]["bias"])) for row in fitted]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    report.add(subject, f"aqp bias decays like K^-{a:g}", abs(slope + a) <= SLOPE_TOLERANCE,
               f"fitted slope {slope:.4f} over K = {fitted[0].K}..{fitted[-1].K}, expected {-a:g} +- {SLOPE_TOLERANCE}")
