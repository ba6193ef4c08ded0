"""A distributional alignment game that shows what a reward table changes in training.

The game
--------
A tabular policy has one logit theta_t per reasoning trace, t = 0..T-1, and
samples traces from pi = softmax(theta). Trace t ends in answer z(t) = t // J,
so there are M answers with J traces each (T = M J), and the answer
distribution is p(z) = sum of pi_t over the traces of answer z. The policy is
trained to match a known target answer distribution q by minimising the
Bregman beta-divergence of the family,

    D_b(p || q) = sum_z [p^b - b p q^(b-1) + (b-1) q^b] / (b (b-1)),

which is KL(p || q) for b = 1. Its derivative in p(z) is R_b(p(z)) - R_b(q(z)),
with R_b the family's target (log p for kl), so

    grad_theta D_b = E_{t ~ pi}[(R_b(p(z)) - R_b(q(z))) grad log pi(t)].

The training reward of a sampled trace is therefore a(t) = R_b(q(z)) - Rhat,
where Rhat estimates R_b(p(z)). A table gives Rhat = r_K[c] from the count c of
the trace's answer in its group of K; the oracle gives the exact R_b(p(z)).

The update
----------
Each step samples a group of K traces t_1..t_K and takes the ascent step

    theta <- theta + lr * (1/K) sum_i (a_i - b_i) (e_{t_i} - pi),

where e_t - pi = grad log pi(t). The default baseline ``"loo"`` is the mean
reward of the other K - 1 samples, each scored with its count among those K - 1
(its own count minus one if it shares sample i's answer), so b_i does not
depend on t_i and adds no bias: E[update] = lr * E_t[(R_b(q) - B_r(p)) grad
log pi(t)], with B_r(p) = E[r_K[1 + Binomial(K-1, p)]]. The baseline
``"mean"`` is GRPO's group mean of all K rewards, sample i included. With a
group-count reward the other samples' rewards depend on t_i, so that baseline
adds the term p B_r'(p) / (K - 1) to the effective reward; see
:func:`expected_direction`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from alftc.errors import AlftcError, InputError
from alftc.families import Family

__all__ = [
    "BASELINES",
    "ORACLE",
    "GameConfig",
    "MethodTrajectory",
    "SimulationResult",
    "DiagnosisResult",
    "PlotError",
    "RewardChoice",
    "parse_target",
    "parse_reward_choices",
    "table_rewards",
    "divergence",
    "simulate",
    "policy_gradient",
    "expected_direction",
    "diagnose",
    "student_t_quantile",
    "plot_trajectories",
    "plot_diagnosis",
]

ORACLE = "oracle"
BASELINES = ("loo", "mean")

# Table methods that a --methods entry may name, besides the oracle.
_TABLE_METHODS = ("plugin", "remez", "ustat", "aqp")

# Steps of uniforms drawn per generator call; bounds memory at seeds * K * 256 floats.
_CHUNK_STEPS = 256


class PlotError(AlftcError):
    """A plot could not be drawn, most often because matplotlib is not installed."""


# ---- input ----------------------------------------------------------------------


def parse_target(text: str, answers: int) -> np.ndarray:
    """Parse a target answer distribution ``zipf:S`` over ``answers`` answers.

    Parameters
    ----------
    text
        ``zipf:S`` with S >= 0: q(z) proportional to (z + 1)**(-S), z = 0..M-1.
        ``zipf:0`` and ``uniform`` give the uniform distribution.
    answers
        Number of answers M, at least 2.

    Returns
    -------
    numpy.ndarray
        q as float64 of shape (M,), summing to 1, in decreasing order.

    Raises
    ------
    InputError
        For M < 2 (an empty or one-answer target) or a malformed spec.
    """
    if answers < 2:
        raise InputError(
            f"invalid number of answers {answers}: the target needs at least 2 answers "
            f"(with one answer every policy matches it); pass --answers 2 or more"
        )
    raw = text.strip().lower()
    if raw == "uniform":
        exponent = 0.0
    else:
        prefix, sep, value = raw.partition(":")
        if prefix != "zipf" or sep != ":":
            raise InputError(f"invalid target {text!r}: expected zipf:S with S >= 0 (e.g. zipf:1) or uniform")
        try:
            exponent = float(value)
        except ValueError:
            raise InputError(f"invalid target {text!r}: {value!r} is not a number; e.g. zipf:1.2") from None
        if not math.isfinite(exponent) or exponent < 0:
            raise InputError(f"invalid target {text!r}: the Zipf exponent must be finite and >= 0")
    weights = np.arange(1, answers + 1, dtype=np.float64) ** (-exponent)
    return weights / weights.sum()


@dataclass(frozen=True)
class RewardChoice:
    """One compared reward: a table row choice or the oracle.

    Attributes
    ----------
    label
        The name as given on the command line: ``plugin``, ``aqp``, ``aqp:rho=1``, ``oracle``.
    method
        ``oracle`` or a table method.
    variant
        The table variant (``default`` unless the label has ``:variant``).
    """

    label: str
    method: str
    variant: str = "default"

    @property
    def is_oracle(self) -> bool:
        return self.method == ORACLE


def parse_reward_choices(text: str) -> list[RewardChoice]:
    """Parse a comma list such as ``plugin,aqp,aqp:rho=1,oracle``.

    Raises
    ------
    InputError
        For an empty entry, an unknown method or a repeated entry.
    """
    choices = []
    for part in text.split(","):
        label = part.strip()
        if not label:
            raise InputError(f"invalid --methods {text!r}: empty entry between commas")
        method, sep, variant = label.partition(":")
        method = method.strip().lower()
        variant = variant.strip() if sep else "default"
        if method not in _TABLE_METHODS + (ORACLE,):
            raise InputError(
                f"unknown method {method!r} in --methods {text!r}; available: "
                f"{', '.join(_TABLE_METHODS + (ORACLE,))}, with an optional variant as in aqp:rho=1"
            )
        if method == ORACLE and sep:
            raise InputError(f"invalid method {label!r}: the oracle has no variants; write oracle")
        if not variant:
            raise InputError(f"invalid method {label!r}: empty variant after ':'; e.g. aqp:rho=1")
        choice = RewardChoice(label=label if sep else method, method=method, variant=variant)
        if any((c.method, c.variant) == (choice.method, choice.variant) for c in choices):
            raise InputError(f"invalid --methods {text!r}: {label} appears twice")
        choices.append(choice)
    return choices


def table_rewards(table, family: Family, K: int, choices: Sequence[RewardChoice]) -> dict[str, np.ndarray | None]:
    """Look up the row r_K[1..K] of each choice in a loaded table file.

    Parameters
    ----------
    table
        An :class:`alftc.runtime.TableFile`.
    family, K
        The family and group size of the game.
    choices
        Reward choices; the oracle maps to None.

    Returns
    -------
    dict
        label -> float64 array of shape (K,), or None for the oracle.

    Raises
    ------
    InputError
        When the file has no row for a choice at this K; the message names the
        ``alftc build`` command that adds it.
    """
    from alftc.runtime import TableLookupError

    rows: dict[str, np.ndarray | None] = {}
    for choice in choices:
        if choice.is_oracle:
            rows[choice.label] = None
            continue
        try:
            rows[choice.label] = np.array(table.select(family.name, choice.method, choice.variant).values(K))
        except TableLookupError as error:
            raise InputError(
                f"no {family.name}/{choice.method}/{choice.variant} row for K = {K} in {table.source}: "
                f"{error}. Build it with '{build_command(family, choice, K)}'"
            ) from None
    return rows


def build_command(family: Family, choice: RewardChoice, K: int | str) -> str:
    """Return the ``alftc build`` command that adds the row of ``choice`` at ``K``."""
    command = f"alftc build --K {K} --family {family.name} --method {choice.method}"
    if choice.variant.startswith("rho="):
        command += f" --variance-budget {choice.variant[4:]}"
    elif choice.variant.startswith("lambda="):
        command += f" --bias-budget {choice.variant[7:]}"
    return command + " --out DIR"


# ---- the game -----------------------------------------------------------------------


@dataclass(frozen=True)
class GameConfig:
    """Parameters of one simulation.

    Attributes
    ----------
    family
        The divergence family (kl or beta:B).
    K
        Group size, at least 2.
    target
        Target answer distribution q, shape (M,), positive, summing to 1.
    traces_per_answer
        J, the traces that end in each answer.
    steps
        Policy-gradient steps per run.
    seeds
        Independent runs; run s uses ``numpy.random.default_rng(seed_base + s)``.
    lr
        Step size eta.
    seed_base
        First seed.
    threshold
        Divergence level for the steps-to-threshold figure.
    baseline
        ``"loo"`` (leave-one-out, unbiased) or ``"mean"`` (GRPO group mean).
    final_window
        Fraction of the last steps averaged into the final divergence.
    """

    family: Family
    K: int
    target: np.ndarray
    traces_per_answer: int = 4
    steps: int = 6000
    seeds: int = 16
    lr: float = 1.0
    seed_base: int = 0
    threshold: float = 0.01
    baseline: str = "loo"
    final_window: float = 0.2

    def __post_init__(self):
        if self.K < 2:
            raise InputError(f"invalid K = {self.K}: a group needs at least 2 samples; pass --K 2 or more")
        target = np.asarray(self.target, dtype=np.float64)
        if target.ndim != 1 or target.size < 2:
            raise InputError(f"invalid target of {target.size} answers: the target needs at least 2 answers")
        if not np.all(target > 0) or abs(target.sum() - 1.0) > 1e-9:
            raise InputError("invalid target: q must be positive and sum to 1")
        object.__setattr__(self, "target", target)
        if self.traces_per_answer < 1:
            raise InputError(f"invalid --traces-per-answer {self.traces_per_answer}: must be >= 1")
        if self.steps < 1:
            raise InputError(f"invalid --steps {self.steps}: must be >= 1")
        if self.seeds < 1:
            raise InputError(f"invalid --seeds {self.seeds}: must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"invalid --lr {self.lr}: the step size must be a positive number")
        if self.baseline not in BASELINES:
            raise InputError(f"invalid baseline {self.baseline!r}: use one of {', '.join(BASELINES)}")
        if not 0 < self.final_window <= 1:
            raise InputError(f"invalid final window {self.final_window}: must be in (0, 1]")

    @property
    def answers(self) -> int:
        return int(self.target.size)

    @property
    def traces(self) -> int:
        return self.answers * self.traces_per_answer


@dataclass(frozen=True)
class MethodTrajectory:
    """Divergence trajectory of one reward over all seeds.

    Attributes
    ----------
    label
        The reward's name (``plugin``, ``aqp:rho=1``, ``oracle``, ...).
    per_seed
        D_b(p_theta || q) after each step, shape (seeds, steps + 1); column 0 is the start.
    mean, low, high
        Mean over seeds and its two-sided 95% Student-t interval, shape (steps + 1,).
        With one seed the interval is the mean itself.
    final_per_seed
        Each seed's divergence averaged over the final window of steps.
    final_mean, final_low, final_high
        Mean of ``final_per_seed`` and its 95% Student-t interval.
    steps_to_threshold
        Each seed's first step from which the divergence stays <= the threshold
        to the end of the run, or -1 when it does not end below it.
    final_p
        Each seed's answer distribution after the last step, shape (seeds, M).
    """

    label: str
    per_seed: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    final_per_seed: np.ndarray
    final_mean: float
    final_low: float
    final_high: float
    steps_to_threshold: np.ndarray
    final_p: np.ndarray

    def threshold_summary(self) -> tuple[int, float | None]:
        """Return (seeds that settled below the threshold, their mean settling step or None)."""
        reached = self.steps_to_threshold[self.steps_to_threshold >= 0]
        return int(reached.size), (float(reached.mean()) if reached.size else None)


@dataclass(frozen=True)
class SimulationResult:
    """Trajectories of every compared reward on one game."""

    config: GameConfig
    trajectories: dict[str, MethodTrajectory] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Return a JSON-serialisable record of the config and each method's results."""
        config = self.config
        methods = {}
        for label, trajectory in self.trajectories.items():
            reached, mean_step = trajectory.threshold_summary()
            methods[label] = {
                "divergence_mean": trajectory.mean.tolist(),
                "divergence_low95": trajectory.low.tolist(),
                "divergence_high95": trajectory.high.tolist(),
                "final_divergence": {
                    "mean": trajectory.final_mean,
                    "low95": trajectory.final_low,
                    "high95": trajectory.final_high,
                    "per_seed": trajectory.final_per_seed.tolist(),
                },
                "final_answer_distribution_mean": trajectory.final_p.mean(axis=0).tolist(),
                "steps_to_threshold": {
                    "threshold": config.threshold,
                    "per_seed": trajectory.steps_to_threshold.tolist(),
                    "seeds_reached": reached,
                    "mean_step_of_reached": mean_step,
                },
            }
        return {
            "game": {
                "family": config.family.name,
                "divergence": "KL(p||q)" if config.family.b == 1 else f"D_beta(p||q), b = {config.family.parameter}",
                "K": config.K,
                "answers": config.answers,
                "traces_per_answer": config.traces_per_answer,
                "target": config.target.tolist(),
                "steps": config.steps,
                "seeds": config.seeds,
                "seed_base": config.seed_base,
                "lr": config.lr,
                "baseline": config.baseline,
                "final_window": config.final_window,
                "interval": "two-sided 95% Student-t interval of the mean over seeds",
            },
            "methods": methods,
        }


def divergence(family: Family, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return D_b(p || q) along the last axis (KL(p || q) for kl), in float64.

    Zero entries of p contribute 0 (their limit).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if family.b == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
        return terms.sum(axis=-1)
    b = float(family.b)
    terms = (p**b - b * p * q ** (b - 1.0) + (b - 1.0) * q**b) / (b * (b - 1.0))
    return terms.sum(axis=-1)


def _target_values(family: Family, p: np.ndarray) -> np.ndarray:
    """Return R_b(p) elementwise in float64 (log p for kl)."""
    if family.b == 1:
        return np.log(p)
    b = float(family.b)
    return (p ** (b - 1.0) - 1.0) / (b - 1.0)


def _softmax(theta: np.ndarray) -> np.ndarray:
    shifted = np.exp(theta - theta.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _student_t_cdf(x: float, df: int) -> float:
    import mpmath

    # P(T <= x) = 1 - I_{df/(df+x^2)}(df/2, 1/2) / 2 for x >= 0.
    tail = mpmath.betainc(df / 2.0, 0.5, 0, df / (df + x * x), regularized=True) / 2
    return float(1 - tail) if x >= 0 else float(tail)


def student_t_quantile(probability: float, df: int) -> float:
    """Return the Student-t quantile for 0.5 < probability < 1, by bisection on the CDF."""
    low, high = 0.0, 1.0
    while _student_t_cdf(high, df) < probability:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if _student_t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * high:
            break
    return 0.5 * (low + high)


def _mean_interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return mean and 95% Student-t interval over axis 0."""
    mean = values.mean(axis=0)
    n = values.shape[0]
    if n < 2:
        return mean, mean.copy(), mean.copy()
    half = student_t_quantile(0.975, n - 1) * values.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def _group_counts(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (same, counts): same[s, i, j] = answers[s, i] == answers[s, j], counts = same.sum(-1)."""
    same = answers[:, :, None] == answers[:, None, :]
    return same, same.sum(axis=-1)


def _advantages(config: GameConfig, row: np.ndarray | None, answers: np.ndarray,
                p: np.ndarray, target_reward: np.ndarray) -> np.ndarray:
    """Return a_i - b_i for a batch of groups, shape (seeds, K).

    ``row`` is r_K[1..K] (None for the oracle), ``p`` the answer distribution
    (seeds, M), and ``target_reward`` R_b(q), shape (M,).
    """
    K = config.K
    reward_q = target_reward[answers]
    if row is None:
        estimate = np.take_along_axis(_target_values(config.family, p), answers, axis=1)
        rewards = reward_q - estimate
        if config.baseline == "mean":
            return rewards - rewards.mean(axis=1, keepdims=True)
        return rewards - (rewards.sum(axis=1, keepdims=True) - rewards) / (K - 1)

    padded = np.concatenate(([0.0], row))
    same, counts = _group_counts(answers)
    rewards = reward_q - padded[counts]
    if config.baseline == "mean":
        return rewards - rewards.mean(axis=1, keepdims=True)

    # Leave-one-out: sample j's reward in the group without sample i uses its count
    # among the other K - 1 samples. The j = i entry (count c_i - 1, maybe 0) is removed.
    without_i = counts[:, None, :] - same
    others = reward_q[:, None, :] - padded[without_i]
    own = np.diagonal(others, axis1=1, axis2=2)
    baseline = (others.sum(axis=2) - own) / (K - 1)
    return rewards - baseline


def policy_gradient(config: GameConfig, row: np.ndarray | None, pi: np.ndarray,
                    traces: np.ndarray) -> np.ndarray:
    """Return the policy-gradient estimate of one group per row of ``traces``.

    Parameters
    ----------
    config
        The game (family, K, target, J, baseline).
    row
        r_K[1..K], or None for the oracle reward R_b(p(z)).
    pi
        Trace distributions, shape (G, T).
    traces
        Sampled trace indices, shape (G, K).

    Returns
    -------
    numpy.ndarray
        (1/K) sum_i (a_i - b_i) (e_{t_i} - pi) for each group, shape (G, T).
        Its mean over groups estimates :func:`expected_direction` (in trace logits).
    """
    G, T = pi.shape
    K = config.K
    M, J = config.answers, config.traces_per_answer
    p = pi.reshape(G, M, J).sum(axis=2)
    answers = traces // J
    advantage = _advantages(config, row, answers, p, _target_values(config.family, config.target))
    offsets = (np.arange(G) * T)[:, None]
    counts = np.bincount((traces + offsets).ravel(), weights=advantage.ravel(), minlength=G * T).reshape(G, T)
    return (counts - advantage.sum(axis=1, keepdims=True) * pi) / K


def _run_method(config: GameConfig, row: np.ndarray | None,
                progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """Run every seed of one reward; return the divergence per seed and step, and the final p."""
    S, K, J, M, T = config.seeds, config.K, config.traces_per_answer, config.answers, config.traces
    q = config.target
    generators = [np.random.default_rng(config.seed_base + s) for s in range(S)]

    theta = np.zeros((S, T))
    history = np.empty((S, config.steps + 1))
    pi = _softmax(theta)
    p = pi.reshape(S, M, J).sum(axis=2)
    history[:, 0] = divergence(config.family, p, q)

    for start in range(0, config.steps, _CHUNK_STEPS):
        chunk = min(_CHUNK_STEPS, config.steps - start)
        uniforms = np.stack([g.random((chunk, K)) for g in generators], axis=1)  # (chunk, S, K)
        for offset in range(chunk):
            # Sample a group of K traces per seed by inverting the CDF of pi.
            cdf = np.cumsum(pi, axis=1)
            traces = (uniforms[offset][:, :, None] > cdf[:, None, :]).sum(axis=2)
            np.minimum(traces, T - 1, out=traces)

            # Score the group and take the policy-gradient step.
            theta += config.lr * policy_gradient(config, row, pi, traces)

            pi = _softmax(theta)
            p = pi.reshape(S, M, J).sum(axis=2)
            history[:, start + offset + 1] = divergence(config.family, p, q)
        if progress is not None:
            progress(chunk)
    return history, p


def simulate(config: GameConfig, rewards: Mapping[str, np.ndarray | None],
             progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Train the tabular policy once per reward and seed, and record the divergence.

    Parameters
    ----------
    config
        The game.
    rewards
        label -> table row r_K[1..K] (float64, shape (K,)), or None for the oracle.
        Every reward sees the same random numbers for a given seed.
    progress
        Called with the number of steps done, once per block of steps and reward.

    Returns
    -------
    SimulationResult

    Notes
    -----
    Seed s always uses the generator ``default_rng(seed_base + s)``, whatever
    the number of seeds, so a run reproduces exactly and seed s of a 4-seed run
    equals seed s of a 16-seed run.
    """
    trajectories = {}
    for label, row in rewards.items():
        if row is not None:
            row = np.asarray(row, dtype=np.float64)
            if row.shape != (config.K,):
                raise InputError(f"reward {label}: row has {row.size} values, expected K = {config.K}")
        history, final_p = _run_method(config, row, progress)
        trajectories[label] = _summarise(label, history, final_p, config)
    return SimulationResult(config=config, trajectories=trajectories)


def _summarise(label: str, history: np.ndarray, final_p: np.ndarray, config: GameConfig) -> MethodTrajectory:
    mean, low, high = _mean_interval(history)
    window = max(1, int(round(config.final_window * config.steps)))
    final = history[:, -window:].mean(axis=1)
    final_mean, final_low, final_high = (float(v[0]) for v in _mean_interval(final[:, None]))
    # The first step from which the divergence stays at or below the threshold to
    # the end: a run that dips below and climbs back has not settled there.
    below = history <= config.threshold
    settled = np.flip(np.logical_and.accumulate(np.flip(below, axis=1), axis=1), axis=1)
    first = np.where(settled.any(axis=1), settled.argmax(axis=1), -1)
    return MethodTrajectory(label, history, mean, low, high, final, final_mean, final_low, final_high, first,
                            final_p)


# ---- the exact fixed-point diagnostic ----------------------------------------------


def _binomial_expectation(row: np.ndarray, p: np.ndarray, differences: bool = False) -> np.ndarray:
    """Compute E[v[N]] for each p, as float64.

    v is ``row`` with N ~ Binomial(K - 1, p), or with ``differences`` the K - 1
    steps row[k + 1] - row[k] with N ~ Binomial(K - 2, p). The sum runs in
    mpmath with 20 digits beyond the magnitude of the largest entry, because
    minimax rows alternate in sign with entries above 1e15 (kl remez at K = 64),
    and a float64 sum of them cancels to an error several times the bias it
    should show.
    """
    import mpmath

    from alftc.bernstein import MpBernstein

    largest = float(np.max(np.abs(row)))
    digits = 20 + (max(0, math.ceil(math.log10(largest))) if largest > 0 else 0)
    with mpmath.workdps(digits):
        exact = [mpmath.mpf(float(value)) for value in row]
        if differences:
            exact = [high - low for low, high in zip(exact[:-1], exact[1:])]
        expectation = MpBernstein(exact)
        means = [float(expectation(float(probability))) for probability in np.asarray(p, dtype=np.float64).ravel()]
    return np.array(means, dtype=np.float64).reshape(np.shape(p))


def expected_direction(family: Family, p: np.ndarray, q: np.ndarray, row: np.ndarray | None,
                       baseline: str = "loo") -> np.ndarray:
    """Return the exact expected update of the answer logits per unit step size.

    Computed from the table and the Binomial law, without sampling, for a
    policy with one trace per answer (J = 1) at answer distribution ``p``.

    Parameters
    ----------
    family
        The divergence family.
    p, q
        Policy and target answer distributions, shape (M,).
    row
        r_K[1..K] (K is its length), or None for the oracle's exact R_b(p).
    baseline
        ``"loo"`` or ``"mean"``; see the module docstring.

    Returns
    -------
    numpy.ndarray
        d of shape (M,) with d_z = p_z (f_z - sum_y p_y f_y), where
        f = R_b(q) - B_r(p) for ``"loo"`` and
        f = (K-1)/K (R_b(q) - B_r(p) + p B_r'(p) / (K-1)) for ``"mean"``
        (for the oracle, f = R_b(q) - R_b(p) under both baselines).

    Notes
    -----
    Under ``"mean"`` the baseline contains the other samples' rewards, whose
    counts include sample i: E[r_K[c_j] | z_i = z] for j != i is lowered by
    p(z) B_r'(p(z)) / (K - 1) relative to other answers, which gives the extra
    term. It is a constant, hence harmless, for kl tables with B_r = log p, but
    not for an exact beta:B table with B != 1.
    With J traces per answer split evenly, the trace-logit update has norm
    ``norm(d) / sqrt(J)``.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    reward_q = _target_values(family, q)
    if baseline not in BASELINES:
        raise InputError(f"invalid baseline {baseline!r}: use one of {', '.join(BASELINES)}")
    if row is None:
        # The oracle's rewards do not depend on the other samples, so a "mean"
        # baseline only rescales this direction by (K - 1) / K.
        f = reward_q - _target_values(family, p)
    else:
        row = np.asarray(row, dtype=np.float64)
        K = row.size
        f = reward_q - _binomial_expectation(row, p)
        if baseline == "mean":
            # p B_r'(p) / (K-1) = p E[r_K[N + 2] - r_K[N + 1]], N ~ Binomial(K - 2, p).
            f = (K - 1) / K * (f + p * _binomial_expectation(row, p, differences=True))
    return p * (f - np.dot(p, f))


@dataclass(frozen=True)
class DiagnosisResult:
    """Norm of the exact expected update at p = q for each reward and K.

    Attributes
    ----------
    family, target, baseline
        The game the norms belong to.
    Ks
        The group sizes, increasing.
    norms
        label -> array of norms aligned with ``Ks``; NaN where the table has no row.
    """

    family: Family
    target: np.ndarray
    baseline: str
    Ks: tuple[int, ...]
    norms: dict[str, np.ndarray]

    def to_json(self) -> dict:
        return {
            "family": self.family.name,
            "target": self.target.tolist(),
            "baseline": self.baseline,
            "K": list(self.Ks),
            "norm": "Euclidean norm of the expected answer-logit update per unit step at p = q",
            "norms": {label: [None if math.isnan(v) else float(v) for v in values]
                      for label, values in self.norms.items()},
        }


def diagnose(family: Family, target: np.ndarray, rows: Mapping[str, Mapping[int, np.ndarray] | None],
             Ks: Sequence[int], baseline: str = "loo") -> DiagnosisResult:
    """Compute the fixed-point bias of each reward: the expected update at p = q.

    Parameters
    ----------
    family, target
        The game; the policy sits at its optimum p = q.
    rows
        label -> {K: r_K[1..K]} for table rewards, or None for the oracle.
    Ks
        Group sizes; a K missing from a label's rows gives NaN.
    baseline
        ``"loo"`` or ``"mean"``.

    Returns
    -------
    DiagnosisResult
        An unbiased reward gives norm 0 under ``"loo"``.
    """
    q = np.asarray(target, dtype=np.float64)
    norms = {}
    for label, by_K in rows.items():
        values = np.full(len(Ks), np.nan)
        for index, K in enumerate(Ks):
            if by_K is None:
                direction = expected_direction(family, q, q, None, baseline)
            elif K in by_K:
                direction = expected_direction(family, q, q, by_K[K], baseline)
            else:
                continue
            values[index] = float(np.linalg.norm(direction))
        norms[label] = values
    return DiagnosisResult(family, q, baseline, tuple(Ks), norms)


# ---- plots ----------------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotError(
            "matplotlib is not installed, so no plot can be drawn; install it with "
            "'pip install alftc[plot]' (or 'pip install matplotlib'), or pass --no-plot"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(result: SimulationResult, path) -> None:
    """Draw the divergence against the step, one line per reward with its 95% band, to a PNG."""
    plt = _pyplot()
    config = result.config
    figure, axes = plt.subplots(figsize=(7, 4.5))
    steps = np.arange(config.steps + 1)
    for label, trajectory in result.trajectories.items():
        line, = axes.plot(steps, trajectory.mean, label=label, linewidth=1.2)
        axes.fill_between(steps, np.maximum(trajectory.low, 1e-12), trajectory.high,
                          color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    name = "KL(p || q)" if config.family.b == 1 else f"D_beta(p || q), b = {config.family.parameter}"
    axes.set_ylabel(name)
    axes.set_title(f"{config.family.name}, K = {config.K}, M = {config.answers}, J = {config.traces_per_answer}, "
                   f"lr = {config.lr:g}, {config.seeds} seeds (95% bands)", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_diagnosis(result: DiagnosisResult, path) -> None:
    """Draw the fixed-point update norm against K on log-log axes, to a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4.5))
    Ks = np.array(result.Ks, dtype=np.float64)
    for label, values in result.norms.items():
        shown = np.isfinite(values) & (values > 0)
        if shown.any():
            axes.plot(Ks[shown], values[shown], marker="o", markersize=3, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("group size K")
    axes.set_ylabel("|expected update| at p = q")
    axes.set_title(f"fixed-point bias, {result.family.name}, {result.baseline} baseline", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
