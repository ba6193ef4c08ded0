"""Augmented polynomial programs (AQP): least-variance tables within a bias budget.

A row r = r_K[1..K] has worst-case weighted bias ||beta_r|| = sup over
0 < p <= 1 of |p (B_r(p) - R(p))| and worst-case weighted variance
V(r) = sup over 0 < p <= 1 of p Var_p(r_K[N + 1]). Both are convex in r, so
two convex programs trade one against the other:

bias budget
    minimise V(r) subject to ||beta_r|| <= B;
variance budget
    minimise ||beta_r|| subject to V(r) <= W.

Each is solved as a second-order cone program (SOCP) on a finite set of points
p_j. The variance uses one free centre m_j per point,

    Var_p(r) = min over m of sum_k b_k(p) (r_k - m)^2,

so ``p_j sum_k b_k(p_j) (r_k - m_j)^2 <= s^2`` is one second-order cone per point.

Steps
-----
1. **Augmentation.** The polynomial part of R goes through its exact
   U-statistic table and only the remainder through the program. For integer
   b >= 2 the remainder is zero and the exact table is the answer. For other
   b the polynomial part is the constant -1/(b - 1), whose table is constant.
2. **Grid.** Start from points p = sin^2(theta) with equally spaced theta plus
   geometric points between 1e-3/K^2 and 1/K^2, where the Bernstein functions
   b_k(p) are narrowest.
3. **Solve and refine.** Solve the SOCP on the points, measure the continuous
   sups in mpmath (:func:`alftc.measure.bias_sup` and
   :func:`alftc.measure.variance_sup`, the ``critical`` search), add every local
   maximum that exceeds the grid level, and solve again until none does.
4. **Bracket and blend.** Solve at the budget times (1 - delta) and (1 + delta),
   delta = :data:`BRACKET`, and choose the blend (1 - t) r_low + t r_high whose
   continuous sup lies in [budget (1 - 1e-9), budget]. The constraint is convex,
   so the blend costs at most the objective of the low end: the result is
   optimal to about delta relative, and its figures come from mpmath alone.

Conditioning. Variables are scaled so that the bias rows are of order one: the
program solves for u with r = plugin + D u, where D_k = min(1, level K / k)
is the bias allowed at p = k / K in unweighted terms. Entries of the cone
matrices below :data:`DROP` are dropped. The truncation only changes the
program, never a certified figure, because step 3 measures the true row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

from alftc.bernstein import np_bernstein_basis
from alftc.errors import InputError, SolverError
from alftc.families import Family
from alftc.measure import bias_sup, variance_sup
from alftc.remez import extend_reference, minimax

__all__ = [
    "AqpResult",
    "SolverAttempt",
    "SOLVER_ATTEMPTS",
    "ExactPart",
    "exact_part",
    "initial_grid",
    "minimax_bias",
    "plugin_figures",
    "solve_bias_budget",
    "solve_variance_budget",
    "run_solver",
    "BRACKET",
    "WINDOW",
]

# Relative half-width of the budget bracket that step 4 blends across. It must
# exceed the solver's feasibility tolerance (1e-7) by a wide margin.
BRACKET = 1e-5

# The final continuous sup lies in [budget (1 - WINDOW), budget].
WINDOW = 1e-9

# A continuous local maximum joins the grid when it exceeds the grid level by
# more than this relative amount, ten times the solver's tolerance.
REFINE_SLACK = 1e-6

# Rounds of refinement before giving up.
MAX_REFINEMENTS = 15

# Blend steps (Illinois method on t) before giving up.
MAX_BLEND_STEPS = 60

# Matrix entries below this (relative to their row for the bias, absolute for
# the cones) are dropped from the program.
DROP = 1e-8

# Precision of the in-loop measurements: the figures are needed to ~1e-12.
_MEASURE_DPS = 40


@dataclass(frozen=True)
class SolverAttempt:
    """One solver configuration of the retry ladder.

    Attributes
    ----------
    solver
        cvxpy solver name.
    settings
        Keyword arguments passed to ``cvxpy.Problem.solve``.
    """

    solver: str
    settings: dict = field(default_factory=dict)


# Tried in order until one returns cvxpy's status ``optimal``. Clarabel at
# tolerance 1e-7 solved every kl case of K = 16..64, lambda = 6..49 in a
# sweep, where Clarabel's default 1e-8 failed about one case in three by
# stalling near the optimum. The third attempt is SCS, a first-order solver.
SOLVER_ATTEMPTS = (
    SolverAttempt("CLARABEL", {"tol_feas": 1e-7, "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7}),
    SolverAttempt(
        "CLARABEL",
        {
            "tol_feas": 1e-7, "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "max_iter": 400,
            "equilibrate_max_iter": 50, "equilibrate_min_scaling": 1e-6, "equilibrate_max_scaling": 1e6,
        },
    ),
    SolverAttempt("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 20_000}),
)


@dataclass(frozen=True)
class ExactPart:
    """The split R = P + S of a target into a polynomial part and a remainder.

    Attributes
    ----------
    degree
        Degree of P when R is a polynomial (integer b >= 2), else None.
    constant
        The constant P of a non-polynomial target: -1/(b - 1) for beta:B, 0 for kl.
    """

    degree: int | None
    constant: Any

    @property
    def is_polynomial(self) -> bool:
        return self.degree is not None


@dataclass(frozen=True)
class AqpResult:
    """A table computed by one of the programs, with its certified figures.

    Attributes
    ----------
    family, K
        The problem.
    program
        ``bias_budget`` or ``variance_budget``.
    values
        r_K[1..K] as mpf numbers.
    bias, variance
        Continuous sups ||beta_r|| and V(r) from :mod:`alftc.measure`.
    budget
        The bound the program enforces: on the bias or on the variance.
    solver, solver_version, status
        The solver configuration that succeeded for both ends of the bracket,
        its version, and cvxpy's status (always ``optimal``).
    attempts
        Every solver call as (solver, status) pairs, failures included.
    refinements
        Refinement rounds over both ends of the bracket.
    grid_size
        Points in the final program.
    blend
        The weight t of the high end in the final blend.
    history
        (grid size, continuous bias, continuous variance) after each solve.
    """

    family: Family
    K: int
    program: str
    values: tuple
    bias: Any
    variance: Any
    budget: Any
    solver: str
    solver_version: str
    status: str
    attempts: tuple
    refinements: int
    grid_size: int
    blend: Any
    history: tuple


# ---------------------------------------------------------------------------
# Problem data


def exact_part(family: Family) -> ExactPart:
    """Split the family's target into its polynomial part and the remainder."""
    if family.polynomial_degree is not None:
        return ExactPart(degree=family.polynomial_degree, constant=None)
    if family.b == 1:
        return ExactPart(degree=None, constant=mpmath.mpf(0))
    b = mpmath.mpf(family.b.numerator) / family.b.denominator
    return ExactPart(degree=None, constant=-1 / (b - 1))


def _remainder_float(family: Family, p: np.ndarray) -> np.ndarray:
    """Evaluate S = R - constant in float64: log p for kl, p^(b-1)/(b-1) otherwise."""
    if family.b == 1:
        return np.log(p)
    b = float(family.b)
    return p ** (b - 1.0) / (b - 1.0)


def initial_grid(K: int, size: int | None = None) -> np.ndarray:
    """Return the starting points: sin^2(theta) on equally spaced theta, plus points near 0.

    ``size`` sin^2 points (default 3 K + 40) cluster like 1/size^2 at both
    ends, and 8 geometric points cover 1e-3/K^2 .. 1/K^2.
    """
    size = size or 3 * K + 40
    theta = np.linspace(0.0, math.pi / 2, size + 1)[1:]
    near_zero = np.geomspace(1e-3 / K**2, 1.0 / K**2, 8)
    return np.unique(np.concatenate([near_zero, np.sin(theta) ** 2]))


def minimax_bias(family: Family, K: int, reference=None):
    """Return the Remez result whose levelled error is the minimax bias E*_K.

    The exchange runs to relative tolerance 1e-20, far below the 1e-9 window of
    the budgets.
    """
    return minimax(
        family.target, K - 1, weight=lambda p: p, interval=(0, 1), left_open=True,
        reference=reference, tolerance=mpmath.mpf("1e-20"), label=f"{family.name} K = {K}",
    )


def next_reference(result):
    """Map a converged Remez result at K to a starting reference at K + 1."""
    with mpmath.workdps(result.dps):
        return extend_reference(result.reference, 0, 1, left_open=True)


def plugin_figures(family: Family, K: int, method: str = "critical"):
    """Return (||beta||, V) of the plug-in row R(c/K), measured in mpmath."""
    from alftc.methods.plugin import plugin_values

    values = plugin_values(family, K)
    return bias_sup(family, values, method=method).value, variance_sup(values, method=method).value


# ---------------------------------------------------------------------------
# The second-order cone program


def run_solver(problem, attempt: SolverAttempt) -> str:
    """Solve a cvxpy problem with one attempt's settings and return cvxpy's status.

    A solver that raises counts as status ``solver_error``.
    """
    import warnings

    import cvxpy

    try:
        with warnings.catch_warnings():
            # The status carries the same news as cvxpy's "may be inaccurate" warning.
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=attempt.solver, **attempt.settings)
    except cvxpy.error.SolverError:
        return "solver_error"
    return str(problem.status)


def solver_version(name: str) -> str:
    """Return the installed version of a cvxpy solver's Python package, or ``unknown``."""
    from importlib import metadata

    package = {"CLARABEL": "clarabel", "SCS": "scs", "ECOS": "ecos"}.get(name, name.lower())
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class _Program:
    """The data of one (family, K): plug-in remainder and variable scaling."""

    family: Family
    K: int
    level: float
    plugin: np.ndarray = field(init=False)
    scale: np.ndarray = field(init=False)

    def __post_init__(self):
        c = np.arange(1, self.K + 1)
        self.plugin = _remainder_float(self.family, c / self.K)
        self.scale = np.minimum(1.0, self.level * self.K / c)

    def bias_rows(self, p: np.ndarray):
        """Return (A, g) with p (B_r(p) - S(p)) / level = A u - g for r = plugin + D u."""
        basis = np_bernstein_basis(self.K - 1, p)
        A = p[:, None] * basis * self.scale[None, :] / self.level
        A[np.abs(A) < DROP * np.abs(A).max(axis=1, keepdims=True)] = 0.0
        g = p * (_remainder_float(self.family, p) - basis @ self.plugin) / self.level
        return A, g

    def variance_rows(self, p: np.ndarray):
        """Return (S, base): the cone of point j is S_j * (base_j + D u - m_j)."""
        basis = np_bernstein_basis(self.K - 1, p)
        S = np.sqrt(p[:, None] * basis)
        S[S < DROP] = 0.0
        base = self.plugin[None, :] - (basis @ self.plugin)[:, None]
        return S, base

    def values(self, u: np.ndarray) -> np.ndarray:
        return self.plugin + self.scale * u


def _socp(program: _Program, bias_points, variance_points, *, bias_bound=None, variance_bound=None):
    """Build the cvxpy problem: a bias bound gives minimise V, a variance bound minimise ||beta||."""
    import cvxpy as cp
    import scipy.sparse

    K = program.K
    A, g = program.bias_rows(bias_points)
    S, base = program.variance_rows(variance_points)
    count = len(variance_points)

    u = cp.Variable(K)
    centre = cp.Variable(count)
    deviations = cp.multiply(
        S.T,
        base.T + cp.reshape(cp.multiply(program.scale, u), (K, 1), order="F")
        - cp.reshape(centre, (1, count), order="F"),
    )
    residual = scipy.sparse.csr_matrix(A) @ u - g

    if bias_bound is not None:
        deviation_bound = cp.Variable()
        constraints = [cp.abs(residual) <= bias_bound / program.level,
                       cp.SOC(deviation_bound * np.ones(count), deviations, axis=0)]
        objective = cp.Minimize(deviation_bound)
    else:
        # Cones of radius 1: the deviations are divided by sqrt(W).
        level = cp.Variable()
        constraints = [cp.abs(residual) <= level,
                       cp.SOC(np.ones(count), deviations / math.sqrt(variance_bound), axis=0)]
        objective = cp.Minimize(level)
    return cp.Problem(objective, constraints), u


def _solve_points(program: _Program, bias_points, variance_points, attempts_log, label, **bound):
    """Solve the SOCP on fixed points with the retry ladder; return (row, attempt).

    Raises
    ------
    SolverError
        When no attempt of :data:`SOLVER_ATTEMPTS` ends with status ``optimal``.
    """
    statuses = []
    for attempt in SOLVER_ATTEMPTS:
        problem, u = _socp(program, bias_points, variance_points, **bound)
        status = run_solver(problem, attempt)
        attempts_log.append((attempt.solver, status))
        statuses.append(f"{attempt.solver} {status}")
        if status == "optimal" and u.value is not None and np.all(np.isfinite(u.value)):
            return program.values(np.asarray(u.value)), attempt
    raise SolverError(
        f"aqp {label}: no solver reached status optimal ({'; '.join(statuses)}); "
        f"no row was written. Try a larger budget"
    )


# ---------------------------------------------------------------------------
# Refinement on the continuum


def _to_row(exact: ExactPart, remainder_row: np.ndarray):
    return tuple(mpmath.mpf(float(x)) + exact.constant for x in remainder_row)


def _measure(family: Family, values):
    with mpmath.workdps(_MEASURE_DPS):
        return (bias_sup(family, values, dps=_MEASURE_DPS, method="critical"),
                variance_sup(values, dps=_MEASURE_DPS, method="critical"))


def _merge_points(points: np.ndarray, candidates) -> tuple[np.ndarray, int]:
    """Add candidate points not already present (to 1e-14 relative); return the points and count added."""
    added = []
    for candidate in candidates:
        x = float(candidate)
        if not 0.0 < x <= 1.0:
            continue
        nearest = np.min(np.abs(points - x)) if len(points) else np.inf
        if nearest > 1e-14 * x and all(abs(x - y) > 1e-14 * x for y in added):
            added.append(x)
    if not added:
        return points, 0
    return np.unique(np.concatenate([points, added])), len(added)


@dataclass
class _Refined:
    values: tuple
    bias: Any
    variance: Any
    attempt: SolverAttempt
    rounds: int


def refine(program: _Program, exact: ExactPart, points: dict, history: list, attempts_log: list,
           label: str, **bound) -> _Refined:
    """Solve, add the continuous maxima that exceed the grid level, and solve again.

    ``points`` maps ``bias`` and ``variance`` to point arrays and is updated in
    place, so the next solve starts from the refined grid.
    """
    family = program.family
    for round_ in range(1, MAX_REFINEMENTS + 1):
        # Solve on the current points.
        remainder_row, attempt = _solve_points(
            program, points["bias"], points["variance"], attempts_log, label, **bound
        )
        values = _to_row(exact, remainder_row)

        # Measure on the continuum.
        bias, variance = _measure(family, values)
        history.append((len(points["bias"]) + len(points["variance"]), bias.value, variance.value))

        # Find the local maxima above the level the grid enforced.
        if "bias_bound" in bound:
            bias_level = mpmath.mpf(bound["bias_bound"])
            variance_level = _grid_variance(program, remainder_row, points["variance"])
        else:
            variance_level = mpmath.mpf(bound["variance_bound"])
            bias_level = _grid_bias(program, remainder_row, points["bias"])
        slack = 1 + mpmath.mpf(REFINE_SLACK)
        bias_over = [p for p, f in bias.extrema if abs(f) > bias_level * slack]
        variance_over = [p for p, f in variance.extrema if f > variance_level * slack]
        if not bias_over and not variance_over:
            return _Refined(values, bias.value, variance.value, attempt, round_)

        # Add them; when every one is already a point, the excess is solver accuracy.
        points["bias"], added_bias = _merge_points(points["bias"], bias_over)
        points["variance"], added_variance = _merge_points(points["variance"], variance_over)
        if added_bias + added_variance == 0:
            return _Refined(values, bias.value, variance.value, attempt, round_)
    raise SolverError(
        f"aqp {label}: continuous maxima still exceed the grid after {MAX_REFINEMENTS} refinement "
        f"rounds; no row was written"
    )


def _grid_bias(program: _Program, remainder_row, points):
    basis = np_bernstein_basis(program.K - 1, points)
    return mpmath.mpf(float(np.max(np.abs(points * (basis @ remainder_row - _remainder_float(program.family, points))))))


def _grid_variance(program: _Program, remainder_row, points):
    basis = np_bernstein_basis(program.K - 1, points)
    mean = basis @ remainder_row
    return mpmath.mpf(float(np.max(points * (basis @ remainder_row**2 - mean**2))))


# ---------------------------------------------------------------------------
# Bracket and blend


def blend(family: Family, low: tuple, high: tuple, figure_name: str, budget, label: str):
    """Find t with the continuous sup of (1 - t) low + t high in [budget (1 - WINDOW), budget].

    ``figure_name`` is ``bias`` or ``variance``, the sup that the budget bounds. The sup is continuous in t, below the
    window at t = 0 and above it at t = 1, so the Illinois method on t converges.

    Returns
    -------
    (t, values, bias, variance)
    """
    target = budget * (1 - mpmath.mpf(WINDOW) / 2)
    floor = budget * (1 - mpmath.mpf(WINDOW))

    def at(t):
        with mpmath.workdps(_MEASURE_DPS):
            values = tuple((1 - t) * a + t * b for a, b in zip(low, high))
        bias, variance = _measure(family, values)
        figure = bias.value if figure_name == "bias" else variance.value
        return figure, values, bias.value, variance.value

    a, b = mpmath.mpf(0), mpmath.mpf(1)
    fa, *rest_a = at(a)
    fb, *_ = at(b)
    if fa <= budget and fa >= floor:
        return (a, *rest_a)
    if not fa < target < fb:
        raise SolverError(
            f"aqp {label}: the budget bracket does not contain the {figure_name} budget "
            f"{mpmath.nstr(budget, 12)} ({mpmath.nstr(fa, 12)} .. {mpmath.nstr(fb, 12)}); no row was written"
        )
    ga, gb = fa - target, fb - target
    side = 0
    for _ in range(MAX_BLEND_STEPS):
        t = (a * gb - b * ga) / (gb - ga)
        figure, values, bias, variance = at(t)
        if floor <= figure <= budget:
            return t, values, bias, variance
        g = figure - target
        if g > 0:
            b, gb = t, g
            if side == 1:
                ga /= 2
            side = 1
        else:
            a, ga = t, g
            if side == -1:
                gb /= 2
            side = -1
    raise SolverError(f"aqp {label}: the blend did not reach the {figure_name} budget; no row was written")


# ---------------------------------------------------------------------------
# The programs


def solve_bias_budget(family: Family, K: int, budget, *, grid=None, minimax_error=None) -> AqpResult:
    """Return the least-variance row whose worst-case weighted bias is at most ``budget``.

    Parameters
    ----------
    family, K
        The problem; ``family`` must not be polynomial (integer b >= 2 has an
        exact table, see :func:`exact_part`).
    budget
        Bias bound B, an absolute value (not a multiple of E*_K).
    grid
        Starting points, default :func:`initial_grid`.
    minimax_error
        E*_K when known. A budget below it raises InputError.

    Raises
    ------
    InputError
        When the budget is not positive or below ``minimax_error``.
    SolverError
        When no solver configuration returns an optimal status, or the
        refinement or the blend fails.
    """
    budget = mpmath.mpf(budget)
    label = f"{family.name} K = {K} bias budget {mpmath.nstr(budget, 8)}"
    exact = _validated(family, K)
    if budget <= 0:
        raise InputError(f"invalid bias budget {mpmath.nstr(budget, 8)} for {label}: it must be > 0")
    if minimax_error is not None and budget * (1 - mpmath.mpf(BRACKET)) <= minimax_error:
        raise InputError(
            f"infeasible bias budget {mpmath.nstr(budget, 10)} for {family.name} K = {K}: no table has "
            f"a worst-case weighted bias below the minimax bias E*_K = {mpmath.nstr(minimax_error, 10)}. "
            f"Use a budget above E*_K (lambda > 1), or method remez for the least-biased table"
        )
    grid = initial_grid(K) if grid is None else np.asarray(grid, dtype=float)
    program = _Program(family, K, level=float(budget))
    points = {"bias": grid.copy(), "variance": grid.copy()}
    history, attempts = [], []

    # Both ends of the bracket, on a grid refined for the low end first.
    low = _bracket_end(program, exact, points, history, attempts, label, budget, -1)
    high = _bracket_end(program, exact, points, history, attempts, label, budget, +1)

    t, values, bias, variance = blend(family, low.values, high.values, "bias", budget, label)
    return _result(family, K, "bias_budget", values, bias, variance, budget, low, high, attempts,
                   points, t, history)


def _bracket_end(program, exact, points, history, attempts, label, budget, side: int) -> _Refined:
    """Solve at budget (1 + side f delta) for f = 1, 10, 100, 1000 until the row is on that side.

    The row of the low end (side -1) must have continuous bias at most the
    budget, and the high end (side +1) above it. The solver's tolerance can
    leave slack in the bias constraint where the least variance is flat in the
    budget, so a wider bracket is tried before giving up. A wider high end
    costs no variance, because the blend's variance is at most the low end's.
    """
    for factor in (1, 10, 100, 1000):
        bound = budget * (1 + side * factor * mpmath.mpf(BRACKET))
        row = refine(program, exact, points, history, attempts, label, bias_bound=float(bound))
        if (side < 0 and row.bias <= budget) or (side > 0 and row.bias > budget):
            return row
    raise SolverError(
        f"aqp {label}: rows solved up to 1e-2 relative on the {'low' if side < 0 else 'high'} side of "
        f"the bias budget stay on the other side of it; no row was written"
    )


def solve_variance_budget(family: Family, K: int, variance_budget, *, grid=None) -> AqpResult:
    """Return the least-biased row whose worst-case weighted variance is at most ``variance_budget``.

    The least variance V*(B) of the bias-budget program falls as the bias
    budget B grows, so the least bias at variance W is the B with V*(B) = W.
    The search brackets that B with two bias-budget rows, one on each side of
    W, narrows the bracket by the Illinois method on log B, and blends the
    two rows as in step 4 of the module notes.

    Notes
    -----
    A direct SOCP (minimise the bias level subject to fixed-radius variance
    cones) failed with Clarabel 0.11 and SCS at K = 32 and 64 for rho = 1,
    which is why the search goes through the bias-budget program.

    Raises
    ------
    InputError
        When the budget is not positive.
    SolverError
        As :func:`solve_bias_budget`, or when the search does not bracket W.
    """
    variance_budget = mpmath.mpf(variance_budget)
    label = f"{family.name} K = {K} variance budget {mpmath.nstr(variance_budget, 8)}"
    exact = _validated(family, K)
    if variance_budget <= 0:
        raise InputError(f"invalid variance budget for {label}: it must be > 0")
    grid = initial_grid(K) if grid is None else np.asarray(grid, dtype=float)
    points = {"bias": grid.copy(), "variance": grid.copy()}
    history, attempts = [], []

    def least_variance(bias_budget):
        program = _Program(family, K, level=float(bias_budget))
        return refine(program, exact, points, history, attempts, label, bias_bound=float(bias_budget))

    # Bracket W, starting from the plug-in's bias and stepping by factors of 2.
    plugin_bias, _ = plugin_figures(family, K)
    budget = plugin_bias
    row = least_variance(budget)
    above, below = None, None
    for _ in range(_BRACKET_STEPS):
        if row.variance > variance_budget:
            above = (budget, row)
            if below is not None:
                break
            budget *= 2
        else:
            below = (budget, row)
            if above is not None:
                break
            budget /= 2
        row = least_variance(budget)
    if above is None or below is None:
        raise SolverError(f"aqp {label}: bias budgets within 2**{_BRACKET_STEPS} of the plug-in's "
                          f"do not bracket the variance budget; no row was written")

    # Narrow the bracket by the Illinois method on log B against log V.
    target = mpmath.log(variance_budget)
    side = 0
    g_above = mpmath.log(above[1].variance) - target
    g_below = mpmath.log(below[1].variance) - target
    for _ in range(MAX_BLEND_STEPS):
        if above[1].variance / below[1].variance - 1 <= _SEARCH_SPREAD:
            break
        x_above, x_below = mpmath.log(above[0]), mpmath.log(below[0])
        x = (x_above * g_below - x_below * g_above) / (g_below - g_above)
        budget = mpmath.exp(x)
        row = least_variance(budget)
        g = mpmath.log(row.variance) - target
        # Classify by the exact comparison: g rounds to 0 within 1e-16 of W.
        if row.variance > variance_budget:
            above, g_above = (budget, row), max(g, mpmath.eps)
            if side == 1:
                g_below /= 2
            side = 1
        else:
            below, g_below = (budget, row), min(g, -mpmath.eps)
            if side == -1:
                g_above /= 2
            side = -1
    else:
        raise SolverError(f"aqp {label}: the search for the bias budget did not converge; no row was written")

    t, values, bias, variance = blend(family, below[1].values, above[1].values, "variance", variance_budget, label)
    return _result(family, K, "variance_budget", values, bias, variance, variance_budget, below[1], above[1],
                   attempts, points, t, history)


# Doublings or halvings of the bias budget tried to bracket a variance budget.
_BRACKET_STEPS = 40

# The search stops when the two bracketing rows' variances differ by this
# relative amount; the blend then closes the gap.
_SEARCH_SPREAD = mpmath.mpf("1e-5")


def _validated(family: Family, K: int) -> ExactPart:
    if K < 2:
        raise InputError(f"invalid K = {K}: a group needs at least 2 samples")
    exact = exact_part(family)
    if exact.is_polynomial:
        raise InputError(
            f"{family.name} has a polynomial target, so its exact U-statistic table is unbiased; "
            f"the programs only take the non-polynomial remainder of a target"
        )
    return exact


def _result(family, K, program, values, bias, variance, budget, low, high, attempts, points, t, history):
    # Both ends must come from the same solver for the recorded name to be true.
    solver = low.attempt.solver if low.attempt.solver == high.attempt.solver else (
        f"{low.attempt.solver}+{high.attempt.solver}")
    return AqpResult(
        family=family, K=K, program=program, values=values, bias=bias, variance=variance,
        budget=budget, solver=solver, solver_version=solver_version(low.attempt.solver), status="optimal",
        attempts=tuple(attempts), refinements=low.rounds + high.rounds,
        grid_size=len(points["bias"]) + len(points["variance"]), blend=t, history=tuple(history),
    )
