"""Method-level checks that look at all rows of a method together: rates and alternation.

Row-level checks live in :mod:`alftc.verify`; these run after them, on the
rows of one (family, method, variant) sorted by K.
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction

import mpmath

from alftc.bernstein import MpBernstein
from alftc.families import parse_family
from alftc.rows import Row

__all__ = ["run_method_checks", "RATE_BOUNDS", "fitted_slope"]

# Upper bounds on K^(2b) * E*_K, the scaled minimax weighted bias. For kl the
# scaled bias rises with K towards about 0.3251 (measured to K = 256, see
# docs/remez.md); the beta bounds sit a few percent above the values measured
# at K = 64, where the rise has flattened.
RATE_BOUNDS = {
    "kl": 0.33,
    "beta:0.5": 0.46,
    "beta:1.5": 0.20,
}

# Tolerance on the fitted slope of log ||beta|| against log K for remez rows.
REMEZ_SLOPE_TOLERANCE = 0.1
REMEZ_SLOPE_MIN_K = 8


def run_method_checks(rows: list[Row], report) -> None:
    """Run the checks of each method present in ``rows``."""
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.family, row.method, row.variant)].append(row)
    for (family, method, variant), members in sorted(groups.items()):
        members.sort(key=lambda row: row.K)
        check = _method_checks().get(method)
        if check is not None:
            check(family, variant, members, rows, report)


def _method_checks() -> dict:
    from alftc.aqp_checks import check_aqp

    return {"remez": check_remez, "aqp": check_aqp}


def fitted_slope(Ks, values) -> float:
    """Return the least-squares slope of log(values) against log(K)."""
    xs = [math.log(K) for K in Ks]
    ys = [math.log(v) for v in values]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    denominator = sum((x - mean_x) ** 2 for x in xs)
    return numerator / denominator


def check_remez(family_name: str, variant: str, members: list[Row], all_rows: list[Row], report) -> None:
    """Check alternation, the bracket, the rate bound and the fitted rate of remez rows."""
    family = parse_family(family_name)
    exponent = 2 * family.b
    subject = f"{family_name}/remez/{variant}"
    for row in members:
        _check_alternation(row, family, report)

    bound = RATE_BOUNDS.get(family_name)
    scaled = [row.K ** float(exponent) * float(row.bias_decimal) for row in members]
    if bound is not None:
        worst = max(scaled)
        report.add(
            subject, f"K^{_format(exponent)} * bias <= {bound}", worst <= bound,
            f"max over K = {worst:.6g}",
        )
    else:
        report.add(subject, "rate bound", True, f"no recorded bound for {family_name}; slope checked instead")

    large = [row for row in members if row.K >= REMEZ_SLOPE_MIN_K]
    if len(large) >= 3:
        slope = fitted_slope([row.K for row in large], [float(row.bias_decimal) for row in large])
        target = -float(exponent)
        passed = abs(slope - target) <= REMEZ_SLOPE_TOLERANCE
        report.add(
            subject, f"fitted rate {target:+.3g} +- {REMEZ_SLOPE_TOLERANCE}", passed,
            f"slope of log bias against log K over K >= {REMEZ_SLOPE_MIN_K}: {slope:.4f}",
        )


def _check_alternation(row: Row, family, report) -> None:
    """Re-evaluate the error at the recorded alternation points from the stored decimals."""
    facts = row.facts
    points = facts.get("alternation_points", [])
    if len(points) != row.K + 1:
        report.add(row.key, "alternation points", False, f"{len(points)} points, expected K + 1 = {row.K + 1}")
        return
    dps = int(facts.get("measure_dps", 60))
    with mpmath.workdps(dps):
        poly = MpBernstein([mpmath.mpf(v) for v in row.values_decimal])
        errors = []
        for text in points:
            p = mpmath.mpf(text)
            errors.append(p * (poly(p) - family.target(p)))
        alternates = all(errors[i] * errors[i + 1] < 0 for i in range(len(errors) - 1))
        report.add(row.key, "error alternates in sign", alternates,
                   f"at the {len(points)} recorded points")

        lower, upper = (mpmath.mpf(x) for x in facts["bracket"])
        smallest = min(abs(e) for e in errors)
        # De la Vallee Poussin: an error alternating at n + 2 points bounds E* below.
        report.add(
            row.key, "bracket lower bound", abs(smallest - lower) <= mpmath.mpf("1e-20") * lower,
            f"min |error| at the points {mpmath.nstr(smallest, 12)}, recorded L {mpmath.nstr(lower, 12)}",
        )
        bias = mpmath.mpf(row.bias_decimal)
        report.add(
            row.key, "sup equals recorded U", abs(bias - upper) <= mpmath.mpf("1e-20") * upper,
            f"sup {mpmath.nstr(bias, 12)}, U {mpmath.nstr(upper, 12)}",
        )
        width = (upper - lower) / upper
        report.add(row.key, "bracket width <= 1e-25", width <= mpmath.mpf("1e-25"), f"{mpmath.nstr(width, 3)}")


def _format(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(float(value))
