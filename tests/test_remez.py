"""Tests of the Remez exchange engine, the Chebyshev utilities, method remez and
the ``minimax`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from math import comb

import mpmath
import pytest
from click.testing import CliRunner

from alftc.chebyshev import (
    basis,
    bernstein_integer_matrix,
    bernstein_value,
    chebyshev_sum,
    chebyshev_to_bernstein,
    clenshaw,
)
from alftc.commands.minimax import command
from alftc.errors import InputError, SolverError
from alftc.families import parse_family
from alftc.methods import BuildOptions
from alftc.methods import remez as method
from alftc.remez import (
    RemezConvergenceError,
    extend_reference,
    initial_reference,
    minimax,
)

# Independent 500-bit minimax computations, 19 significant digits.
XLOGX_REFERENCE = {
    4: "1.389620558183960516e-2",
    8: "3.526450676264990318e-3",
    16: "8.850886644657806718e-4",
}
KL_REFERENCE = {
    4: "2.002712411788122551e-2",
    8: "5.060565981943172088e-3",
    16: "1.268682132183436780e-3",
}


def xlogx(x):
    return x * mpmath.log(x) if x else mpmath.mpf(0)


def identity(p):
    return p


def solve_kl(K, **kwargs):
    return minimax(mpmath.log, K - 1, weight=identity, left_open=True, **kwargs)


def assert_alternates(result):
    assert len(result.reference) == result.degree + 2
    assert all(s * t == -1 for s, t in zip(result.signs[:-1], result.signs[1:]))
    assert all(x < y for x, y in zip(result.reference[:-1], result.reference[1:]))


def assert_brackets(result, expected, digits=18):
    """The bracket contains ``expected`` up to the rounding of its ``digits`` digits."""
    slack = mpmath.mpf(10) ** (-digits)
    with mpmath.workdps(result.dps):
        value = mpmath.mpf(expected)
        assert result.lower * (1 - slack) <= value
        assert value <= result.upper * (1 + slack)


# Chebyshev utilities


def test_clenshaw_matches_basis_sum():
    with mpmath.workdps(40):
        c = [mpmath.mpf(1) / (j + 2) ** 3 * (-1) ** j for j in range(12)]
        for x in ("0", "0.013", "0.5", "0.77", "1"):
            assert abs(clenshaw(c, x) - chebyshev_sum(c, x)) < mpmath.mpf("1e-38")


def test_basis_matches_cosine_form():
    with mpmath.workdps(30):
        for x in ("0.1", "0.6", "0.95"):
            theta = mpmath.acos(2 * mpmath.mpf(x) - 1)
            for j, value in enumerate(basis(x, 9)):
                assert abs(value - mpmath.cos(j * theta)) < mpmath.mpf("1e-27")


def test_basis_on_general_interval():
    with mpmath.workdps(30):
        values = basis("3", 3, a=2, b=4)
        assert values == [1, 0, -1, 0]


def test_bernstein_matrix_exact_at_rationals():
    n = 7
    matrix = bernstein_integer_matrix(n)
    for x in (Fraction(1, 3), Fraction(5, 7), Fraction(9, 10)):
        t = 2 * x - 1
        chebyshev = [Fraction(1), t]
        for _ in range(2, n + 1):
            chebyshev.append(2 * t * chebyshev[-1] - chebyshev[-2])
        for j in range(n + 1):
            total = sum(
                Fraction(matrix[i][j], comb(n, i)) * comb(n, i) * x**i * (1 - x) ** (n - i)
                for i in range(n + 1)
            )
            assert total == chebyshev[j]


def test_chebyshev_to_bernstein_values_agree():
    with mpmath.workdps(50):
        c = [mpmath.mpf(1) / (j + 1) ** 2 for j in range(9)]
        for n in (8, 11):
            beta = chebyshev_to_bernstein(c, n)
            assert len(beta) == n + 1
            for x in ("0.03", "0.41", "0.99"):
                assert abs(bernstein_value(beta, x) - clenshaw(c, x)) < mpmath.mpf("1e-45")


def test_chebyshev_to_bernstein_rejects_low_degree():
    with pytest.raises(ValueError, match="below the polynomial degree"):
        chebyshev_to_bernstein([mpmath.mpf(1)] * 5, 3)


# Engine: cases with known results


@pytest.mark.parametrize("dps", [45, 60, 80])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_power_error_is_scaled_chebyshev(n, dps):
    tolerance = mpmath.mpf(10) ** (-(dps - 13))
    result = minimax(lambda x: x ** (n + 1), n, tolerance=tolerance, dps=dps)
    with mpmath.workdps(dps):
        expected = mpmath.mpf(2) ** (-(2 * n + 1))
        assert result.converged
        assert abs(result.levelled_error - expected) <= 10 * tolerance * expected
        assert result.lower <= expected * (1 + 10 * tolerance)
        assert expected <= result.upper * (1 + 10 * tolerance)
        # The alternation points are the extrema of T*_{n+1}: sin^2(k pi / (2 (n + 1))).
        for k, x in enumerate(result.reference):
            assert abs(x - mpmath.sin(k * mpmath.pi / (2 * (n + 1))) ** 2) < mpmath.mpf(10) ** (-dps // 3)
    assert_alternates(result)


@pytest.mark.parametrize("degree, expected", [(0, "0.25"), (1, "0.25"), (2, "0.0625"), (3, "0.0625")])
def test_abs_low_degree(degree, expected):
    result = minimax(lambda x: abs(x - mpmath.mpf(1) / 2), degree)
    with mpmath.workdps(result.dps):
        assert abs(result.levelled_error - mpmath.mpf(expected)) < mpmath.mpf("1e-30")
    assert_brackets(result, expected, digits=30)
    assert_alternates(result)


def test_polynomial_target_has_zero_error():
    result = minimax(lambda x: 3 * x**2 - x + 1, 4)
    assert result.converged
    assert result.levelled_error == 0
    assert result.upper < mpmath.mpf("1e-35")


@pytest.mark.parametrize("degree", sorted(XLOGX_REFERENCE))
def test_xlogx_reference_values(degree):
    result = minimax(xlogx, degree)
    expected = mpmath.mpf(XLOGX_REFERENCE[degree])
    assert result.converged
    assert abs(result.levelled_error / expected - 1) < mpmath.mpf("1e-15")
    assert_brackets(result, XLOGX_REFERENCE[degree])
    assert_alternates(result)
    assert result.relative_bracket_width < mpmath.mpf("1e-28")


@pytest.mark.parametrize("K", sorted(KL_REFERENCE))
def test_weighted_kl_reference_values(K):
    result = solve_kl(K)
    expected = mpmath.mpf(KL_REFERENCE[K])
    assert result.converged
    assert abs(result.levelled_error / expected - 1) < mpmath.mpf("1e-15")
    assert_brackets(result, KL_REFERENCE[K])
    assert_alternates(result)
    assert result.reference[0] > 0
    assert result.reference[-1] == 1


def test_upper_bound_dominates_dense_grid():
    result = solve_kl(8)
    with mpmath.workdps(result.dps):
        grid = [mpmath.mpf(k) / 4000 for k in range(1, 4001)]
        grid += [mpmath.mpf(2) ** -k for k in range(12, 40)]
        errors = [abs(p * (result(p) - mpmath.log(p))) for p in grid]
        top = max(errors)
        assert top <= result.upper * (1 + mpmath.mpf("1e-28"))
        assert top >= result.upper * (1 - mpmath.mpf("1e-4"))


def test_history_records_each_iteration():
    result = minimax(xlogx, 6)
    assert len(result.history) == result.iterations
    assert result.history[-1] == result.spread
    assert result.spread < result.tolerance


# Engine: failures


def test_forced_nonconvergence_carries_best():
    with pytest.raises(RemezConvergenceError) as caught:
        minimax(xlogx, 8, max_iter=1, label="xlogx test")
    error = caught.value
    assert isinstance(error, SolverError)
    assert "xlogx test" in str(error)
    assert "iteration 1" in str(error)
    assert error.best is not None
    assert not error.best.converged
    assert error.best.iterations == 1
    assert error.best.spread > error.best.tolerance


def test_precision_too_low_rejected():
    with pytest.raises(InputError, match="dps = 20"):
        minimax(xlogx, 4, dps=20)


def test_invalid_reference_rejected():
    with pytest.raises(InputError, match="expected d \\+ 2 = 6"):
        minimax(xlogx, 4, reference=["0.1", "0.5", "0.9"])
    with pytest.raises(InputError, match="strictly increasing"):
        minimax(xlogx, 1, reference=["0.5", "0.2", "0.9"])
    with pytest.raises(InputError, match="lie in the interval"):
        solve_kl(2, reference=["0", "0.5", "1"])


# Warm start


def test_extend_reference_shape():
    with mpmath.workdps(40):
        old = initial_reference(9, left_open=True)
        new = extend_reference(old, left_open=True)
        assert len(new) == len(old) + 1
        assert 0 < new[0] < old[0]
        assert all(x < y for x, y in zip(new[:-1], new[1:]))
        assert abs(new[-1] - 1) < mpmath.mpf("1e-35")


def test_warm_start_saves_iterations():
    previous = solve_kl(15)
    with mpmath.workdps(previous.dps):
        reference = extend_reference(previous.reference, left_open=True)
    warm = solve_kl(16, reference=reference)
    cold = solve_kl(16)
    assert warm.iterations < cold.iterations
    assert abs(warm.levelled_error / cold.levelled_error - 1) < mpmath.mpf("1e-29")


# Method remez


def test_check_rejects_integer_b():
    for name in ("beta:2", "beta:3"):
        with pytest.raises(InputError, match="use method ustat"):
            method.check(parse_family(name), 8, BuildOptions())


def test_check_rejects_small_K():
    with pytest.raises(InputError, match="K must be >= 2"):
        method.check(parse_family("kl"), 1, BuildOptions())


def test_check_rejects_low_precision():
    minimum = method.minimum_dps(64)
    with pytest.raises(InputError) as caught:
        method.check(parse_family("kl"), 64, BuildOptions(dps=minimum - 1))
    message = str(caught.value)
    assert f"dps = {minimum - 1}" in message
    assert "K = 64" in message
    assert f"at least {minimum}" in message
    method.check(parse_family("kl"), 64, BuildOptions(dps=minimum))


def test_build_kl_drafts():
    family = parse_family("kl")
    drafts = list(method.build(family, [4, 5, 6, 7, 8], BuildOptions()))
    assert [draft.K for draft in drafts] == [4, 5, 6, 7, 8]
    rates = []
    for draft in drafts:
        facts = draft.facts
        json.dumps(facts)
        assert draft.variant == "default"
        assert not draft.exact
        assert len(draft.values) == draft.K
        assert draft.digits >= 30
        assert mpmath.mpf(facts["relative_bracket_width"]) <= mpmath.mpf("1e-25")
        lower, upper = (mpmath.mpf(text) for text in facts["bracket"])
        assert lower <= mpmath.mpf(facts["E_star"]) <= upper
        assert len(facts["alternation_points"]) == draft.K + 1
        assert len(facts["chebyshev_coefficients"]) == draft.K
        assert "rate_exponent" not in facts
        rates.append(mpmath.mpf(facts["rate_constant"]))
    assert all(r < s for r, s in zip(rates[:-1], rates[1:]))
    assert abs(mpmath.mpf(drafts[0].facts["E_star"]) / mpmath.mpf(KL_REFERENCE[4]) - 1) < 1e-15
    assert abs(mpmath.mpf(drafts[4].facts["E_star"]) / mpmath.mpf(KL_REFERENCE[8]) - 1) < 1e-15


def test_stored_decimals_reproduce_error():
    family = parse_family("kl")
    (draft,) = method.build(family, [16], BuildOptions())
    with mpmath.workdps(draft.facts["dps"] + 20):
        stored = [mpmath.mpf(mpmath.nstr(value, draft.digits)) for value in draft.values]
        level = mpmath.mpf(draft.facts["E_star"])
        for text in draft.facts["alternation_points"]:
            p = mpmath.mpf(text)
            error = abs(p * (bernstein_value(stored, p) - mpmath.log(p)))
            assert abs(error / level - 1) < mpmath.mpf("1e-20")
        grid = [mpmath.mpf(k) / 500 for k in range(1, 501)]
        top = max(abs(p * (bernstein_value(stored, p) - mpmath.log(p))) for p in grid)
        assert top <= level * (1 + mpmath.mpf("1e-20"))


def test_values_stable_under_more_precision():
    family = parse_family("kl")
    (draft,) = method.build(family, [24], BuildOptions())
    (finer,) = method.build(family, [24], BuildOptions(dps=draft.facts["dps"] + 25))
    with mpmath.workdps(draft.digits + 10):
        largest = max(abs(v) for v in finer.values)
        for coarse, fine in zip(draft.values, finer.values):
            assert abs(coarse - fine) <= largest * mpmath.mpf(10) ** (-draft.digits + 1)


@pytest.mark.parametrize("name, exponent", [("beta:0.5", "1.0"), ("beta:1.5", "3.0")])
def test_build_noninteger_beta(name, exponent):
    family = parse_family(name)
    drafts = list(method.build(family, [4, 5, 6, 12], BuildOptions()))
    for draft in drafts:
        assert mpmath.mpf(draft.facts["relative_bracket_width"]) <= mpmath.mpf("1e-25")
        assert mpmath.mpf(draft.facts["rate_exponent"]) == mpmath.mpf(exponent)
        with mpmath.workdps(40):
            expected = mpmath.mpf(draft.facts["bracket"][1]) * mpmath.mpf(draft.K) ** mpmath.mpf(exponent)
            assert abs(mpmath.mpf(draft.facts["rate_constant"]) / expected - 1) < mpmath.mpf("1e-25")


# Command


def test_command_text_output():
    outcome = CliRunner().invoke(command, ["--function", "xlogx", "--degree", "4"])
    assert outcome.exit_code == 0, outcome.output
    assert "E = 0.013896205581839605" in outcome.output
    assert "converged = true" in outcome.output


def test_command_json_family():
    outcome = CliRunner().invoke(command, ["--family", "kl", "--K", "8", "--json"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.output)
    assert abs(mpmath.mpf(document["E"]) / mpmath.mpf(KL_REFERENCE[8]) - 1) < 1e-15
    assert len(document["bernstein_coefficients"]) == 8
    assert len(document["chebyshev_coefficients"]) == 8
    assert document["converged"] is True


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["--function", "log", "--degree", "3"], "pass --weight p"),
        (["--function", "xlogx"], "pass --degree D"),
        (["--family", "kl"], "pass --K K"),
        (["--family", "beta:2", "--K", "5"], "use method ustat"),
        (["--family", "kl", "--K", "16", "--dps", "20"], "dps = 20"),
        (["--family", "beta:x", "--K", "5"], "not a real number"),
        (["--function", "xlogx", "--degree", "4", "--tolerance", "2"], "outside (0, 1)"),
        ([], "missing problem"),
    ],
)
def test_command_rejects_invalid_options(arguments, fragment):
    outcome = CliRunner().invoke(command, arguments)
    assert outcome.exit_code == 2
    assert fragment in outcome.output


def test_command_nonconvergence_exit_code():
    outcome = CliRunner().invoke(command, ["--function", "xlogx", "--degree", "8", "--max-iter", "1"])
    assert outcome.exit_code == 3
    assert "did not converge" in outcome.output


def test_command_in_subprocess():
    code = "from alftc.commands.minimax import command; command()"
    completed = subprocess.run(
        [sys.executable, "-c", code, "--function", "xlogx", "--degree", "8", "--weight", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "E = 0.0035264506762649903" in completed.stdout
    assert completed.stderr == ""


# Long chains


@pytest.mark.slow
def test_kl_chain_to_64_certifies():
    family = parse_family("kl")
    rates = []
    for draft in method.build(family, list(range(4, 65)), BuildOptions()):
        assert mpmath.mpf(draft.facts["relative_bracket_width"]) <= mpmath.mpf("1e-25")
        rates.append(mpmath.mpf(draft.facts["rate_constant"]))
    assert len(rates) == 61
    assert all(r < s for r, s in zip(rates[:-1], rates[1:]))
    assert rates[-1] < mpmath.mpf("0.33")
    assert abs(mpmath.mpf(rates[12]) / (16**2 * mpmath.mpf(KL_REFERENCE[16])) - 1) < 1e-15


@pytest.mark.slow
@pytest.mark.parametrize("K", [128, 256])
def test_kl_large_K_converges(K):
    (draft,) = method.build(parse_family("kl"), [K], BuildOptions())
    assert mpmath.mpf(draft.facts["relative_bracket_width"]) <= mpmath.mpf("1e-25")
    assert mpmath.mpf("0.325") < mpmath.mpf(draft.facts["rate_constant"])
    assert mpmath.mpf(draft.facts["rate_constant"]) < mpmath.mpf("0.33")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["beta:0.5", "beta:1.5"])
def test_beta_chain_to_64_certifies(name):
    rates = []
    for draft in method.build(parse_family(name), list(range(4, 65)), BuildOptions()):
        assert mpmath.mpf(draft.facts["relative_bracket_width"]) <= mpmath.mpf("1e-25")
        rates.append(mpmath.mpf(draft.facts["rate_constant"]))
    assert len(rates) == 61
    # The rate constants K**(2b) E*_K settle: the last ten agree to 1e-3.
    assert max(rates[-10:]) / min(rates[-10:]) - 1 < mpmath.mpf("1e-3")
