"""Method ``aqp``: the least-variance table within a bias budget (see :mod:`alftc.aqp`).

Variants, chosen by ``options.extra``:

``default`` (no budget given)
    Bias budget min(lambda E*_K, ||beta_plugin||) with lambda =
    :data:`DEFAULT_LAMBDA`, so the row is never more biased than the plug-in.
``lambda=L`` (``{"bias_budget": L}``)
    Bias budget L E*_K, where E*_K is the minimax bias of method ``remez``.
``rho=R`` (``{"variance_budget": R}``)
    Least bias with worst-case variance at most R V(plugin_K); ``rho=1`` is the
    iso-variance table.

For integer b >= 2 the target is a polynomial, so every variant is the exact
U-statistic table (``exact`` True), which meets any budget.
"""

from __future__ import annotations

import mpmath

from alftc import aqp
from alftc.errors import InputError
from alftc.families import Family
from alftc.methods import BuildOptions
from alftc.methods.ustat import ustat_values
from alftc.rows import Draft, decimal_string

__all__ = ["NAME", "DEFAULT_LAMBDA", "check", "build", "variant_name", "budget_option"]

NAME = "aqp"

# The default bias budget, as a multiple of E*_K. Measured for kl, K = 4..64
# (docs/aqp.md): it keeps V <= 2 V(plugin) at every K (the largest ratio, 1.76,
# is at K = 64) and the bias at K = 64 at 7.8/K^2, below the plug-in's
# 36.6/K^2 divided by 4.
DEFAULT_LAMBDA = 24


def _format_number(value: float) -> str:
    return f"{value:g}"


def budget_option(options: BuildOptions | None) -> tuple[str, float | None]:
    """Return the budget kind (``default``, ``bias`` or ``variance``) and its value."""
    extra = options.extra if options is not None else {}
    bias, variance = extra.get("bias_budget"), extra.get("variance_budget")
    if bias is not None and variance is not None:
        raise InputError("aqp takes one budget: pass bias_budget or variance_budget, not both")
    if bias is not None:
        return "bias", float(bias)
    if variance is not None:
        return "variance", float(variance)
    return "default", None


def variant_name(options: BuildOptions | None) -> str:
    """Return the row variant: ``default``, ``lambda=L`` or ``rho=R``."""
    kind, value = budget_option(options)
    if kind == "bias":
        return f"lambda={_format_number(value)}"
    if kind == "variance":
        return f"rho={_format_number(value)}"
    return "default"


def check(family: Family, K: int, options: BuildOptions) -> None:
    """Raise InputError for K < 2, an invalid budget, or a polynomial family with K < b."""
    if K < 2:
        raise InputError(f"invalid K = {K} for method aqp: a group needs at least 2 samples")
    kind, value = budget_option(options)
    if kind == "bias" and not value > 1:
        raise InputError(
            f"infeasible bias budget lambda = {_format_number(value)}: the budget is lambda E*_K, and no "
            f"table has a worst-case weighted bias below the minimax bias E*_K (lambda = 1). Pass "
            f"--bias-budget above 1 (the default row uses {DEFAULT_LAMBDA}), or use --method remez "
            f"for the least-biased table"
        )
    if kind == "variance" and not value > 0:
        raise InputError(
            f"invalid variance budget rho = {_format_number(value)}: rho multiplies the plug-in's "
            f"worst-case variance and must be > 0, e.g. --variance-budget 1"
        )
    degree = family.polynomial_degree
    if degree is not None and K < degree + 1:
        raise InputError(
            f"invalid K = {K} for {family.name}/aqp: the target is a polynomial of degree {degree}, "
            f"whose exact table needs K >= {degree + 1}; use --K {degree + 1} or larger, or --method "
            f"plugin for K = {K}"
        )


def build(family: Family, Ks, options: BuildOptions):
    """Yield one Draft per K for the variant that ``options`` selects.

    Consecutive K in ``Ks`` warm-start the Remez exchange for E*_K.

    Raises
    ------
    InputError
        See :func:`check`; also a bias budget at most E*_K (1 + 1e-5).
    SolverError
        When no solver configuration reaches an optimal status; no row is yielded.
    """
    variant = variant_name(options)
    kind, value = budget_option(options)
    previous = None
    for K in Ks:
        check(family, K, options)
        if family.polynomial_degree is not None:
            yield _exact_draft(family, K, variant)
            continue

        # E*_K and the plug-in's figures: the units of the budgets.
        reference = aqp.next_reference(previous) if previous is not None and previous.degree == K - 2 else None
        remez = aqp.minimax_bias(family, K, reference)
        previous = remez
        e_star = remez.levelled_error
        plugin_bias, plugin_variance = aqp.plugin_figures(family, K)

        # The program of the variant.
        facts = {"E_star": decimal_string(e_star), "plugin_bias": decimal_string(plugin_bias),
                 "plugin_variance": decimal_string(plugin_variance)}
        if kind == "variance":
            budget = value * plugin_variance
            result = aqp.solve_variance_budget(family, K, budget)
            facts.update({"rho": value, "program": "variance_budget"})
        else:
            lam = DEFAULT_LAMBDA if kind == "default" else value
            budget = lam * e_star
            if kind == "default":
                budget = min(budget, plugin_bias)
            result = aqp.solve_bias_budget(family, K, budget, minimax_error=e_star)
            facts.update({"lambda": lam, "program": "bias_budget"})
        facts.update(_result_facts(result))
        yield Draft(K=K, variant=variant, values=result.values, exact=False, facts=facts)


def _exact_draft(family: Family, K: int, variant: str) -> Draft:
    return Draft(
        K=K, variant=variant, values=ustat_values(family, K), exact=True,
        facts={"exact_part": "ustat", "degree": family.polynomial_degree,
               "note": "polynomial target: the exact U-statistic table meets every budget"},
    )


def _result_facts(result: aqp.AqpResult) -> dict:
    return {
        "budget": decimal_string(result.budget),
        "solver": result.solver,
        "solver_version": result.solver_version,
        "status": result.status,
        "solver_calls": len(result.attempts),
        "failed_solver_calls": sum(1 for _, status in result.attempts if status != "optimal"),
        "refinement_iterations": result.refinements,
        "grid_size": result.grid_size,
        "blend": decimal_string(result.blend, 12) if result.blend else "0",
        "bias_at_build": decimal_string(result.bias),
        "variance_at_build": decimal_string(result.variance),
        "exact_part": "constant" if result.family.b != 1 else "none",
    }
