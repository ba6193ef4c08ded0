"""Tests of alftc.simulate and ``alftc simulate``: the alignment game and the fixed-point diagnostic."""

from __future__ import annotations

import json
import math
import sys
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from alftc.cli import EXIT_INPUT, EXIT_TABLE_FILE, main
from alftc.errors import InputError
from alftc.families import parse_family
from alftc.runtime import load_table
from alftc.simulate import (
    GameConfig,
    PlotError,
    diagnose,
    divergence,
    expected_direction,
    parse_reward_choices,
    parse_target,
    plot_trajectories,
    policy_gradient,
    simulate,
    student_t_quantile,
    table_rewards,
)

KL = parse_family("kl")
TABLE_KS = "4,8,16"


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """Build plug-in and U-statistic rows with ``alftc build`` into a fresh folder."""
    folder = tmp_path_factory.mktemp("tables")
    result = CliRunner().invoke(main, [
        "build", "--K", TABLE_KS, "--family", "kl,beta:2,beta:3", "--method", "plugin,ustat",
        "--out", str(folder), "--fresh", "--no-cache", "--jobs", "1", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    return folder / "alftc-tables.json"


@pytest.fixture(scope="module")
def table(table_path):
    return load_table(table_path)


def run_cli(*args):
    return CliRunner().invoke(main, ["simulate", *args])


# ---- input parsing ------------------------------------------------------------------


def test_zipf_target_normalised_and_decreasing():
    q = parse_target("zipf:1", 5)
    assert q.sum() == pytest.approx(1.0)
    assert np.all(np.diff(q) < 0)
    assert q[0] / q[4] == pytest.approx(5.0)


@pytest.mark.parametrize("answers", [0, 1])
def test_target_without_answers_rejected(answers):
    with pytest.raises(InputError, match="at least 2 answers"):
        parse_target("zipf:1", answers)


@pytest.mark.parametrize("text", ["zipf", "zipf:-1", "zipf:x", "pareto:1"])
def test_malformed_target_rejected(text):
    with pytest.raises(InputError, match="invalid target"):
        parse_target(text, 4)


def test_reward_choices_parse_variants():
    choices = parse_reward_choices("plugin, aqp:rho=1 ,oracle")
    assert [(c.label, c.method, c.variant) for c in choices] == [
        ("plugin", "plugin", "default"), ("aqp:rho=1", "aqp", "rho=1"), ("oracle", "oracle", "default")]


@pytest.mark.parametrize("text, message", [
    ("plugin,bogus", "unknown method 'bogus'"),
    ("plugin,,oracle", "empty entry"),
    ("plugin,plugin", "appears twice"),
    ("oracle:x", "no variants"),
])
def test_bad_reward_choices_rejected(text, message):
    with pytest.raises(InputError, match=message):
        parse_reward_choices(text)


def test_config_rejects_group_of_one():
    with pytest.raises(InputError, match="K = 1"):
        GameConfig(KL, 1, parse_target("zipf:1", 4))


def test_missing_row_names_build_command(table):
    with pytest.raises(InputError) as caught:
        table_rewards(table, KL, 8, parse_reward_choices("aqp:rho=1"))
    message = str(caught.value)
    assert "alftc build --K 8 --family kl --method aqp --variance-budget 1" in message


def test_student_t_quantile_known_values():
    # Textbook two-sided 95% critical values.
    assert student_t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert student_t_quantile(0.975, 15) == pytest.approx(2.1314, abs=1e-4)


# ---- the divergence and the update -----------------------------------------------


def test_divergence_zero_only_at_target():
    q = parse_target("zipf:1", 6)
    for family in (KL, parse_family("beta:2"), parse_family("beta:1.5")):
        assert divergence(family, q, q) == pytest.approx(0.0, abs=1e-15)
        assert divergence(family, np.full(6, 1 / 6), q) > 1e-3


@pytest.mark.parametrize("baseline", ["loo", "mean"])
@pytest.mark.parametrize("family_name, method", [("kl", "plugin"), ("beta:2", "ustat"), ("beta:2", "plugin")])
def test_sampled_gradient_matches_exact_direction(table, baseline, family_name, method):
    """The Monte Carlo mean of the sampled update agrees with the Binomial-law formula."""
    family = parse_family(family_name)
    K, M = 4, 4
    q = parse_target("zipf:1", M)
    p = np.array([0.2, 0.4, 0.1, 0.3])
    row = np.array(table.select(family.name, method).values(K))
    config = GameConfig(family, K, q, traces_per_answer=1, baseline=baseline)

    groups = 400_000
    rng = np.random.default_rng(7)
    traces = rng.choice(M, size=(groups, K), p=p)
    pi = np.broadcast_to(p, (groups, M))
    samples = policy_gradient(config, row, pi, traces)
    sampled = samples.mean(axis=0)
    error = samples.std(axis=0) / math.sqrt(groups)

    exact = expected_direction(family, p, q, row, baseline)
    assert np.all(np.abs(sampled - exact) < 5 * error + 1e-12), (sampled, exact, error)


# ---- training runs ----------------------------------------------------------------


def test_oracle_converges_to_target():
    q = parse_target("zipf:1", 6)
    config = GameConfig(KL, 8, q, traces_per_answer=3, steps=1500, seeds=3, lr=1.0)
    result = simulate(config, {"oracle": None})
    trajectory = result.trajectories["oracle"]
    assert trajectory.per_seed[:, 0].min() > 0.05
    assert trajectory.final_high < 1e-6
    assert np.abs(trajectory.final_p - q).max() < 1e-3
    assert np.all(trajectory.steps_to_threshold >= 0)


def test_same_seed_reproduces_exactly(table):
    q = parse_target("zipf:1", 5)
    row = np.array(table.select("kl", "plugin").values(8))
    first = simulate(GameConfig(KL, 8, q, steps=300, seeds=3, seed_base=11), {"plugin": row})
    second = simulate(GameConfig(KL, 8, q, steps=300, seeds=3, seed_base=11), {"plugin": row})
    np.testing.assert_array_equal(first.trajectories["plugin"].per_seed, second.trajectories["plugin"].per_seed)


def test_seed_independent_of_seed_count(table):
    q = parse_target("zipf:1", 5)
    row = np.array(table.select("kl", "plugin").values(8))
    two = simulate(GameConfig(KL, 8, q, steps=200, seeds=2, seed_base=3), {"plugin": row})
    three = simulate(GameConfig(KL, 8, q, steps=200, seeds=3, seed_base=3), {"plugin": row})
    np.testing.assert_array_equal(two.trajectories["plugin"].per_seed, three.trajectories["plugin"].per_seed[:2])


def test_other_seed_base_changes_runs(table):
    q = parse_target("zipf:1", 5)
    row = np.array(table.select("kl", "plugin").values(8))
    first = simulate(GameConfig(KL, 8, q, steps=100, seeds=2, seed_base=0), {"plugin": row})
    second = simulate(GameConfig(KL, 8, q, steps=100, seeds=2, seed_base=5), {"plugin": row})
    assert not np.array_equal(first.trajectories["plugin"].per_seed, second.trajectories["plugin"].per_seed)


def test_plugin_fixed_point_above_oracle(table):
    """The plug-in's bias leaves a divergence gap outside both 95% intervals."""
    q = parse_target("zipf:1", 8)
    row = np.array(table.select("kl", "plugin").values(8))
    config = GameConfig(KL, 8, q, traces_per_answer=2, steps=2000, seeds=6, lr=1.0)
    result = simulate(config, {"plugin": row, "oracle": None})
    plugin, oracle = result.trajectories["plugin"], result.trajectories["oracle"]
    assert plugin.final_low > oracle.final_high
    assert plugin.final_mean > 0.05
    # The plug-in over-estimates log p of rare answers, so it starves them.
    assert plugin.final_p[:, -1].mean() < 0.5 * q[-1]


# ---- the exact diagnostic ----------------------------------------------------------


@pytest.mark.parametrize("family_name", ["beta:2", "beta:3"])
def test_diagnostic_zero_for_ustat(table, family_name):
    family = parse_family(family_name)
    q = parse_target("zipf:1", 12)
    estimator = table.select(family.name, "ustat")
    result = diagnose(family, q, {"ustat": {K: estimator.values(K) for K in estimator.Ks}}, estimator.Ks)
    assert np.all(result.norms["ustat"] <= 1e-12), result.norms


def test_diagnostic_zero_for_oracle():
    q = parse_target("zipf:1", 12)
    result = diagnose(KL, q, {"oracle": None}, [4, 64])
    assert np.all(result.norms["oracle"] == 0.0)


def test_plugin_diagnostic_decreases_with_K(table):
    q = parse_target("zipf:1", 12)
    estimator = table.select("kl", "plugin")
    result = diagnose(KL, q, {"plugin": {K: estimator.values(K) for K in estimator.Ks}}, estimator.Ks)
    norms = result.norms["plugin"]
    assert np.all(norms > 1e-3)
    assert np.all(np.diff(norms) < 0)


def test_mean_baseline_biases_exact_beta2_table(table):
    """GRPO's group mean couples the rewards: an exact beta:2 table then has the
    fixed-point direction of the extra term p B_r'(p) / (K-1) = p / (K-1)."""
    family = parse_family("beta:2")
    q = parse_target("zipf:1", 6)
    K = 8
    row = np.array(table.select("beta:2", "ustat").values(K))
    direction = expected_direction(family, q, q, row, baseline="mean")
    f = (K - 1) / K * q / (K - 1)
    np.testing.assert_allclose(direction, q * (f - np.dot(q, f)), atol=1e-14)
    assert np.linalg.norm(direction) > 1e-3


@pytest.mark.parametrize("baseline", ["loo", "mean"])
def test_expected_direction_exact_for_cancelling_row(baseline):
    """Entries (-1)^k C(63, k) reach 9e17 while B_r stays of order 1, as in a
    minimax row at large K. A float64 Bernstein sum returns 24 where B_r is -1.49."""
    K = 64
    q = parse_target("zipf:1", 12)
    row = np.array([(-1.0) ** k * math.comb(K - 1, k) for k in range(K)])

    def bernstein(values, x):
        n = len(values) - 1
        return sum(math.comb(n, k) * x**k * (1 - x) ** (n - k) * values[k] for k in range(n + 1))

    exact_row = [Fraction(float(value)) for value in row]
    steps = [high - low for low, high in zip(exact_row[:-1], exact_row[1:])]
    points = [Fraction(float(value)) for value in q]
    f = np.log(q) - np.array([float(bernstein(exact_row, x)) for x in points])
    if baseline == "mean":
        slopes = np.array([float(bernstein(steps, x)) for x in points])
        f = (K - 1) / K * (f + q * slopes)
    expected = q * (f - np.dot(q, f))

    direction = expected_direction(KL, q, q, row, baseline)
    np.testing.assert_allclose(direction, expected, rtol=1e-12, atol=1e-15)


def test_diagnostic_missing_K_is_nan(table):
    estimator = table.select("kl", "plugin")
    result = diagnose(KL, parse_target("zipf:1", 4), {"plugin": {4: estimator.values(4)}}, [4, 5])
    assert not math.isnan(result.norms["plugin"][0])
    assert math.isnan(result.norms["plugin"][1])


# ---- the command line ---------------------------------------------------------------


def test_cli_run_writes_results_and_plot(table_path, tmp_path):
    result = run_cli("--K", "8", "--answers", "6", "--steps", "200", "--seeds", "3",
                     "--methods", "plugin,oracle", "--tables", str(table_path), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "plugin" in result.output
    assert "oracle" in result.output
    document = json.loads((tmp_path / "simulate-kl-K8.json").read_text())
    assert set(document["methods"]) == {"plugin", "oracle"}
    assert len(document["methods"]["plugin"]["divergence_mean"]) == 201
    assert document["game"]["K"] == 8
    assert (tmp_path / "simulate-kl-K8.png").stat().st_size > 1000


def test_cli_default_methods_skip_missing_rows(table_path, tmp_path):
    result = run_cli("--K", "8", "--answers", "4", "--steps", "50", "--seeds", "2", "--no-plot",
                     "--tables", str(table_path), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "skipped aqp" in result.output
    document = json.loads((tmp_path / "simulate-kl-K8.json").read_text())
    assert set(document["methods"]) == {"plugin", "oracle"}


def test_cli_runs_are_reproducible(table_path, tmp_path):
    args = ["--K", "4", "--answers", "4", "--steps", "100", "--seeds", "2", "--no-plot",
            "--methods", "plugin", "--tables", str(table_path), "-q"]
    assert run_cli(*args, "--out", str(tmp_path / "a")).exit_code == 0
    assert run_cli(*args, "--out", str(tmp_path / "b")).exit_code == 0
    first = json.loads((tmp_path / "a" / "simulate-kl-K4.json").read_text())
    second = json.loads((tmp_path / "b" / "simulate-kl-K4.json").read_text())
    assert first == second


@pytest.mark.parametrize("args, message", [
    (["--K", "1"], "K = 1"),
    (["--answers", "0"], "at least 2 answers"),
    (["--answers", "1"], "at least 2 answers"),
    (["--K", "4..8"], "one group size"),
    (["--methods", "plugin,bogus"], "unknown method 'bogus'"),
    (["--methods", "aqp"], "alftc build --K 8 --family kl --method aqp"),
    (["--methods", "plugin", "--K", "12"], "alftc build --K 12 --family kl --method plugin"),
    (["--lr", "-1"], "invalid --lr"),
])
def test_cli_bad_input_exits_2(table_path, tmp_path, args, message):
    base = ["--K", "8", "--steps", "10", "--seeds", "1", "--no-plot", "--tables", str(table_path),
            "--out", str(tmp_path)]
    result = run_cli(*base, *args)
    assert result.exit_code == EXIT_INPUT, result.output
    assert message in result.output


def test_cli_missing_table_file_exits_4(tmp_path):
    result = run_cli("--methods", "plugin", "--tables", str(tmp_path / "absent.json"), "--out", str(tmp_path))
    assert result.exit_code == EXIT_TABLE_FILE, result.output


def test_cli_diagnose_ustat_zero(table_path, tmp_path):
    result = run_cli("--diagnose", "--family", "beta:2", "--K", TABLE_KS, "--tables", str(table_path),
                     "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "diagnose-beta-2.json").read_text())
    assert document["K"] == [4, 8, 16]
    assert max(document["norms"]["ustat"]) <= 1e-12
    assert min(document["norms"]["plugin"]) > 1e-4
    assert (tmp_path / "diagnose-beta-2.png").exists()


def test_cli_diagnose_missing_method_names_build(table_path, tmp_path):
    result = run_cli("--diagnose", "--K", "4..8", "--methods", "plugin,remez", "--tables", str(table_path),
                     "--out", str(tmp_path), "--no-plot")
    assert result.exit_code == EXIT_INPUT, result.output
    assert "alftc build --K 4..8 --family kl --method remez" in result.output


def test_plot_without_matplotlib_raises(monkeypatch, tmp_path):
    q = parse_target("zipf:1", 3)
    result = simulate(GameConfig(KL, 4, q, steps=5, seeds=1), {"oracle": None})
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotError, match="pip install"):
        plot_trajectories(result, tmp_path / "plot.png")


def test_cli_without_matplotlib_skips_plot(table_path, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_cli("--K", "8", "--steps", "20", "--seeds", "2", "--methods", "plugin,oracle",
                     "--tables", str(table_path), "--out", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    assert "no plot written" in result.output
    assert (tmp_path / "simulate-kl-K8.json").exists()
    assert not (tmp_path / "simulate-kl-K8.png").exists()


def test_cli_K_without_rows_rejected(table_path, tmp_path):
    result = run_cli("--K", "3", "--steps", "20", "--seeds", "2", "--tables", str(table_path),
                     "--out", str(tmp_path), "--no-plot", "--quiet")
    assert result.exit_code == 2
    assert "no kl row for K = 3" in result.output
    assert "alftc build" in result.output
    assert not list(tmp_path.glob("*.json"))
