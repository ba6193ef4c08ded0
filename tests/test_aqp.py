"""Tests of the aqp programs, method, verify checks and pareto command."""

from __future__ import annotations

import json
from pathlib import Path

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from alftc import aqp
from alftc.aqp_checks import check_aqp
from alftc.build import BuildRequest, finish_row, run_build
from alftc.cli import EXIT_COMPUTATION, EXIT_INPUT, main
from alftc.errors import InputError, SolverError
from alftc.families import parse_family
from alftc.measure import bias_sup, variance_sup
from alftc.methods import BuildOptions
from alftc.methods import aqp as method
from alftc.methods.ustat import ustat_values
from alftc.rows import Row
from alftc.verify import Report, verify_rows

KL = parse_family("kl")


def _rows(family, Ks, extra=None):
    options = BuildOptions(extra=extra or {})
    return [finish_row("aqp", family, draft) for draft in method.build(family, list(Ks), options)]


@pytest.fixture(scope="module")
def kl_default_rows():
    return _rows(KL, [8, 16])


# ---------------------------------------------------------------------------
# Budgets and options


def test_check_rejects_budget_below_minimax():
    with pytest.raises(InputError, match=r"E\*_K"):
        method.check(KL, 8, BuildOptions(extra={"bias_budget": 0.5}))


def test_program_rejects_budget_below_minimax():
    e_star = aqp.minimax_bias(KL, 8).levelled_error
    with pytest.raises(InputError) as caught:
        aqp.solve_bias_budget(KL, 8, e_star / 2, minimax_error=e_star)
    message = str(caught.value)
    assert "infeasible bias budget" in message
    assert mpmath.nstr(e_star, 10) in message
    assert "lambda > 1" in message


def test_cli_rejects_budget_below_minimax(tmp_path):
    result = CliRunner().invoke(main, [
        "build", "--K", "8", "--family", "kl", "--method", "aqp", "--bias-budget", "0.5",
        "--out", str(tmp_path), "--no-cache", "--quiet",
    ])
    assert result.exit_code == EXIT_INPUT
    assert "E*_K" in result.output
    assert not (tmp_path / "alftc-tables.json").exists()


def test_check_rejects_two_budgets():
    with pytest.raises(InputError, match="one budget"):
        method.check(KL, 8, BuildOptions(extra={"bias_budget": 4, "variance_budget": 1}))


def test_check_rejects_nonpositive_variance_budget():
    with pytest.raises(InputError, match="must be > 0"):
        method.check(KL, 8, BuildOptions(extra={"variance_budget": 0}))


@pytest.mark.parametrize("extra, name", [
    ({}, "default"), ({"bias_budget": 8}, "lambda=8"), ({"bias_budget": 2.5}, "lambda=2.5"),
    ({"variance_budget": 1.0}, "rho=1"), ({"variance_budget": 2}, "rho=2"),
])
def test_variant_names(extra, name):
    assert method.variant_name(BuildOptions(extra=extra)) == name


# ---------------------------------------------------------------------------
# Augmentation by the exact part


@pytest.mark.parametrize("name", ["beta:2", "beta:3"])
def test_integer_b_reduces_to_ustat(name):
    family = parse_family(name)
    drafts = list(method.build(family, [4, 9], BuildOptions()))
    assert [draft.K for draft in drafts] == [4, 9]
    for draft in drafts:
        assert draft.exact
        assert draft.values == ustat_values(family, draft.K)
        row = finish_row("aqp", family, draft)
        assert row.bias_decimal == "0"


def test_integer_b_rejects_small_K():
    with pytest.raises(InputError, match="K >= 3"):
        method.check(parse_family("beta:3"), 2, BuildOptions())


def test_program_rejects_polynomial_target():
    with pytest.raises(InputError, match="polynomial target"):
        aqp.solve_bias_budget(parse_family("beta:2"), 8, 0.01)


def test_noninteger_b_constant_part():
    part = aqp.exact_part(parse_family("beta:1.5"))
    assert part.degree is None
    assert part.constant == -2


# ---------------------------------------------------------------------------
# Continuous feasibility


def test_coarse_grid_overshoot_repaired():
    K = 12
    e_star = aqp.minimax_bias(KL, K).levelled_error
    budget = 24 * e_star
    coarse = np.array([0.05, 0.2, 0.45, 0.7, 0.9, 1.0])
    result = aqp.solve_bias_budget(KL, K, budget, grid=coarse, minimax_error=e_star)

    first_bias = result.history[0][1]
    assert first_bias > budget * (1 + mpmath.mpf("1e-3")), "the coarse grid should overshoot"
    assert result.grid_size > 2 * len(coarse)
    assert result.refinements > 2
    assert result.bias <= budget
    assert result.bias >= budget * (1 - mpmath.mpf(aqp.WINDOW))
    assert bias_sup(KL, result.values, method="scan").value <= budget * (1 + mpmath.mpf("1e-20"))


@pytest.mark.parametrize("K", [4, 8])
def test_variance_budget_lands_in_window(K):
    _, plugin_variance = aqp.plugin_figures(KL, K)
    result = aqp.solve_variance_budget(KL, K, plugin_variance)
    measured = variance_sup(result.values, method="scan").value
    assert measured <= plugin_variance * (1 + mpmath.mpf("1e-20"))
    assert measured >= plugin_variance * (1 - mpmath.mpf(aqp.WINDOW))


# ---------------------------------------------------------------------------
# Default rows and their facts


def test_default_rows_within_budget(kl_default_rows):
    for row in kl_default_rows:
        facts = row.facts
        plugin_bias = mpmath.mpf(facts["plugin_bias"])
        budget = min(method.DEFAULT_LAMBDA * mpmath.mpf(facts["E_star"]), plugin_bias)
        bias = mpmath.mpf(row.bias_decimal)
        assert bias <= budget * (1 + mpmath.mpf("1e-9"))
        assert bias >= budget * (1 - mpmath.mpf("1e-9"))
        assert mpmath.mpf(row.variance_decimal) <= 2 * mpmath.mpf(facts["plugin_variance"])


def test_default_rows_record_solver(kl_default_rows):
    for row in kl_default_rows:
        assert row.facts["status"] == "optimal"
        assert row.facts["solver"] == "CLARABEL"
        assert row.facts["solver_version"] != "unknown"
        assert row.facts["lambda"] == method.DEFAULT_LAMBDA
        assert row.facts["refinement_iterations"] >= 2
        assert row.facts["grid_size"] > 0


def test_default_K8_beats_plugin_variance(kl_default_rows):
    row = next(row for row in kl_default_rows if row.K == 8)
    assert mpmath.mpf(row.variance_decimal) < mpmath.mpf(row.facts["plugin_variance"])


# ---------------------------------------------------------------------------
# Verify checks


def test_check_aqp_passes_on_built_rows(kl_default_rows):
    report = Report()
    check_aqp("kl", "default", kl_default_rows, kl_default_rows, report)
    assert report.checks
    assert report.ok, [check for check in report.failures]


def _tampered(row: Row, **changes) -> Row:
    obj = row.to_json()
    obj.update(changes)
    return Row.from_json(obj)


def test_check_aqp_catches_bias_over_budget(kl_default_rows):
    row = kl_default_rows[-1]
    over = _tampered(row, bias_decimal=str(mpmath.mpf(row.bias_decimal) * (1 + mpmath.mpf("1e-6"))))
    report = Report()
    check_aqp("kl", "default", [over], [over], report)
    assert "aqp bias within budget" in [check.name for check in report.failures]


def test_check_aqp_catches_wrong_e_star(kl_default_rows):
    row = kl_default_rows[0]
    remez_like = _tampered(row, method="remez", facts={"E_star": "0.001"})
    report = Report()
    check_aqp("kl", "default", [row], [row, remez_like], report)
    assert "aqp E*_K matches remez row" in [check.name for check in report.failures]


def test_check_aqp_catches_variance_over_budget(kl_default_rows):
    row = kl_default_rows[0]
    noisy = _tampered(row, variant="rho=1", variance_decimal=str(2 * mpmath.mpf(row.facts["plugin_variance"])))
    report = Report()
    check_aqp("kl", "rho=1", [noisy], [noisy], report)
    assert "aqp variance within budget" in [check.name for check in report.failures]


# ---------------------------------------------------------------------------
# Solver failure


def _fail_solver(problem, attempt):
    return "optimal_inaccurate"


def test_forced_solver_failure_raises(monkeypatch):
    monkeypatch.setattr(aqp, "run_solver", _fail_solver)
    with pytest.raises(SolverError) as caught:
        aqp.solve_bias_budget(KL, 8, 0.1)
    message = str(caught.value)
    assert "kl K = 8" in message
    assert "bias budget 0.1" in message
    assert "optimal_inaccurate" in message


def test_forced_solver_failure_cli_keeps_table(tmp_path, monkeypatch):
    runner = CliRunner()
    common = ["--out", str(tmp_path), "--no-cache", "--quiet", "--jobs", "1"]
    first = runner.invoke(main, ["build", "--K", "8", "--family", "kl", "--method", "plugin", *common])
    assert first.exit_code == 0, first.output
    table = tmp_path / "alftc-tables.json"
    before = table.read_bytes()
    before_h5 = (tmp_path / "alftc-tables.h5").read_bytes()

    monkeypatch.setattr(aqp, "run_solver", _fail_solver)
    result = runner.invoke(main, ["build", "--K", "8", "--family", "kl", "--method", "aqp", *common])
    assert result.exit_code == EXIT_COMPUTATION
    assert "no solver reached status optimal" in result.output
    assert table.read_bytes() == before
    assert (tmp_path / "alftc-tables.h5").read_bytes() == before_h5


# ---------------------------------------------------------------------------
# pareto command


def test_pareto_writes_front(tmp_path):
    result = CliRunner().invoke(main, [
        "pareto", "--family", "kl", "--K", "8", "--points", "3", "--out", str(tmp_path), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    front = json.loads((tmp_path / "pareto-kl-K8.json").read_text())
    points = front["points"]
    assert len(points) == 3
    assert all(point["status"] == "optimal" for point in points)
    biases = [point["bias"] for point in points]
    variances = [point["variance"] for point in points]
    assert biases == sorted(biases)
    assert variances == sorted(variances, reverse=True)
    assert front["remez"]["variance"] > variances[0]
    assert (tmp_path / "pareto-kl-K8.csv").read_text().startswith("lambda,budget,status")
    assert (tmp_path / "pareto-kl-K8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_missing_matplotlib(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = CliRunner().invoke(main, ["pareto", "--K", "8", "--points", "2", "--out", str(tmp_path)])
    assert result.exit_code == EXIT_INPUT
    assert "alftc[plot]" in result.output


def test_pareto_rejects_polynomial_family(tmp_path):
    result = CliRunner().invoke(main, ["pareto", "--family", "beta:2", "--K", "8", "--out", str(tmp_path)])
    assert result.exit_code == EXIT_INPUT
    assert "ustat" in result.output


# ---------------------------------------------------------------------------
# Larger builds


@pytest.mark.slow
def test_default_rate_and_verify():
    request = BuildRequest("aqp", KL, (16, 24, 32, 48, 64), BuildOptions())
    rows = sorted(run_build([request], jobs=2), key=lambda row: row.K)
    report = Report()
    check_aqp("kl", "default", rows, rows, report)
    assert report.ok, report.failures
    names = {check.name for check in report.checks}
    assert "aqp bias decays like K^-2" in names
    assert "aqp bias at most plug-in's / 4 at K = 64" in names
    assert verify_rows(rows, Report(), monte_carlo=False).ok


@pytest.mark.slow
def test_iso_variance_K64_halves_bias():
    rows = _rows(KL, [64], {"variance_budget": 1.0})
    report = Report()
    check_aqp("kl", "rho=1", rows, rows, report)
    assert report.ok, report.failures
    assert "aqp iso-variance bias 1.5x below plug-in's at K = 64" in {check.name for check in report.checks}


@pytest.mark.slow
def test_noninteger_beta_rows_verify():
    family = parse_family("beta:1.5")
    rows = _rows(family, [8, 16])
    report = Report()
    check_aqp("beta:1.5", "default", rows, rows, report)
    assert report.ok, report.failures
    assert verify_rows(rows, Report(), monte_carlo=False).ok
