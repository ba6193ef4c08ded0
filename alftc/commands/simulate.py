"""``alftc simulate``: train a tabular policy on a distributional alignment game with
each reward table, or compute the exact fixed-point bias of the tables (``--diagnose``).

Exit codes follow :mod:`alftc.cli`: 0 success, 2 invalid input (including a
missing table row), 4 table file missing or corrupt. A missing matplotlib skips
the plot with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from alftc.errors import InputError

__all__ = ["command"]

DEFAULT_K = "32"
DEFAULT_DIAGNOSE_K = "4..64"
# Compared by default; an entry whose row the table lacks is skipped with a note.
DEFAULT_METHODS = ("plugin", "remez", "ustat", "aqp", "aqp:rho=1", "aqp:rho=2", "oracle")


def _safe_name(family_name: str) -> str:
    return family_name.replace(":", "-").replace("/", "_")


@click.command("simulate")
@click.option("--family", default="kl", show_default=True,
              help="Divergence family: kl, or beta:B with B > 0 (e.g. beta:2).")
@click.option("--K", "K_text", default=None,
              help=f"Group size K (default {DEFAULT_K}). With --diagnose: a value, range A..B or comma "
                   f"list (default {DEFAULT_DIAGNOSE_K}).")
@click.option("--answers", type=int, default=12, show_default=True, help="Number of answers M.")
@click.option("--traces-per-answer", type=int, default=4, show_default=True,
              help="Reasoning traces J per answer; the policy has M*J trace logits.")
@click.option("--target", default="zipf:1", show_default=True,
              help="Target answer distribution: zipf:S (q(z) proportional to z**-S, z = 1..M) or uniform.")
@click.option("--steps", type=int, default=6000, show_default=True, help="Policy-gradient steps per run.")
@click.option("--seeds", type=int, default=16, show_default=True, help="Independent runs per reward.")
@click.option("--seed-base", type=int, default=0, show_default=True,
              help="Run s uses numpy.random.default_rng(seed_base + s).")
@click.option("--lr", type=float, default=1.0, show_default=True, help="Step size eta of the logit update.")
@click.option("--baseline", type=click.Choice(["loo", "mean"]), default="loo", show_default=True,
              help="loo: mean reward of the other K-1 samples scored without sample i (no bias); "
                   "mean: GRPO's group mean, sample included.")
@click.option("--threshold", type=float, default=0.01, show_default=True,
              help="Divergence level (nats for kl): the summary reports the step from which each run stays at or below it.")
@click.option("--methods", "methods_text", default=None,
              help="Comma list of rewards: plugin, remez, ustat, aqp, aqp:rho=1 (method:variant), oracle. "
                   f"Default: {','.join(DEFAULT_METHODS)}, skipping those the table lacks.")
@click.option("--tables", "tables_path", type=click.Path(dir_okay=False), default=None,
              help="Table file (.json or .h5). Default: the shipped tables/alftc-tables.json.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="simulation", show_default=True,
              help="Folder for the JSON results and the PNG plot.")
@click.option("--no-plot", is_flag=True, help="Write the JSON results only.")
@click.option("--diagnose", is_flag=True,
              help="Instead of training, compute the exact expected update at p = q for each table and K.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def command(family, K_text, answers, traces_per_answer, target, steps, seeds, seed_base, lr, baseline,
            threshold, methods_text, tables_path, out_dir, no_plot, diagnose, quiet):
    """Show what a reward table changes in training, on a distributional alignment game.

    A softmax policy over M*J reasoning traces (J per answer) learns to match a target
    answer distribution q by minimising KL(p||q) (or the family's beta-divergence). A
    sampled trace's reward is R(q(z)) - r_K[c], c being its answer's count in a group of K;
    the oracle uses the exact R(p(z)). Writes per-reward divergence trajectories (mean and
    95% interval over seeds) as JSON and a PNG plot to --out."""
    from alftc.cli import _errors_to_exit_codes

    with _errors_to_exit_codes():
        if diagnose:
            _diagnose(family, K_text or DEFAULT_DIAGNOSE_K, answers, target, baseline, methods_text,
                      tables_path, out_dir, no_plot, quiet)
        else:
            _simulate(family, K_text or DEFAULT_K, answers, traces_per_answer, target, steps, seeds,
                      seed_base, lr, baseline, threshold, methods_text, tables_path, out_dir, no_plot, quiet)


# ---- shared input steps --------------------------------------------------------------


def _load(tables_path):
    """Load the table file, mapping a missing or corrupt file to exit code 4."""
    from alftc.cli import EXIT_TABLE_FILE, default_table_files
    from alftc.runtime import TableFormatError, load_table

    if tables_path is None:
        shipped = [path for path in default_table_files() if path.suffix == ".json"] or default_table_files()
        if not shipped:
            click.echo("error: no table file given and no shipped tables found in ./tables; run "
                       "'alftc build' first or pass --tables FILE", err=True)
            sys.exit(EXIT_TABLE_FILE)
        tables_path = shipped[0]
    try:
        return load_table(tables_path)
    except TableFormatError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_TABLE_FILE)


def _parse_inputs(family_text, K_text, answers, target_text):
    from alftc.families import parse_family
    from alftc.kspec import parse_K
    from alftc.simulate import parse_target

    family = parse_family(family_text)
    Ks = parse_K(K_text)
    q = parse_target(target_text, answers)
    return family, Ks, q


def _has_row(table, family, choice, K) -> bool:
    from alftc.runtime import TableLookupError

    try:
        return K in table.select(family.name, choice.method, choice.variant).Ks
    except TableLookupError:
        return False


def _write_plot(draw, result, path) -> bool:
    """Draw one plot; on a missing matplotlib print a note and return False.

    The results file is already written, so a missing plotting library is not
    a failure of the run.
    """
    from alftc.simulate import PlotError

    try:
        draw(result, path)
    except PlotError as error:
        click.echo(f"note: no plot written: {error}", err=True)
        return False
    return True


# ---- training runs --------------------------------------------------------------------


def _simulate(family_text, K_text, answers, traces_per_answer, target_text, steps, seeds, seed_base, lr,
              baseline, threshold, methods_text, tables_path, out_dir, no_plot, quiet):
    from alftc.cli import EXIT_INPUT, _progress_bar
    from alftc.simulate import (GameConfig, build_command, parse_reward_choices, plot_trajectories,
                                simulate, table_rewards)

    family, Ks, q = _parse_inputs(family_text, K_text, answers, target_text)
    if len(Ks) != 1:
        raise InputError(f"invalid --K {K_text!r}: a training run takes one group size; a range is "
                         f"for --diagnose")
    K = Ks[0]
    config = GameConfig(family=family, K=K, target=q, traces_per_answer=traces_per_answer, steps=steps,
                        seeds=seeds, lr=lr, seed_base=seed_base, threshold=threshold, baseline=baseline)

    choices = parse_reward_choices(methods_text or ",".join(DEFAULT_METHODS))
    table = _load(tables_path) if any(not c.is_oracle for c in choices) else None
    if methods_text is None:
        kept = [c for c in choices if c.is_oracle or _has_row(table, family, c, K)]
        for choice in choices:
            # ustat rows exist only for integer b >= 2, so their absence needs no note.
            if choice not in kept and choice.method != "ustat" and not quiet:
                click.echo(f"note: skipped {choice.label}: no {family.name}/{choice.method}/{choice.variant} "
                           f"row for K = {K} (add it with '{build_command(family, choice, K)}')", err=True)
        if all(choice.is_oracle for choice in kept):
            plugin = next(c for c in choices if c.method == "plugin")
            raise InputError(
                f"{table.source} has no {family.name} row for K = {K}, so only the oracle could run; "
                f"add rows with '{build_command(family, plugin, K)}', or pick a K the table has"
            )
        choices = kept
    rows = table_rewards(table, family, K, choices)

    with _progress_bar(steps * len(rows), f"simulating K = {K}", not quiet) as advance:
        result = simulate(config, rows, progress=advance)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"simulate-{_safe_name(family.name)}-K{K}"
    document = result.to_json()
    document["tables"] = None if table is None else {"file": table.source, "checksum": table.checksum}
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")

    if not quiet:
        _print_summary(result, json_path)
    if not no_plot:
        png_path = out / f"{stem}.png"
        if _write_plot(plot_trajectories, result, png_path) and not quiet:
            click.echo(f"plot: {png_path}")


def _print_summary(result, json_path) -> None:
    config = result.config
    trajectories = result.trajectories
    name = "KL(p||q)" if config.family.b == 1 else "D_beta(p||q)"
    click.echo(f"{config.family.name}, K = {config.K}, M = {config.answers}, J = {config.traces_per_answer}, "
               f"{config.steps} steps, {config.seeds} seeds, lr = {config.lr:g}, {config.baseline} baseline")
    plugin = trajectories.get("plugin")
    oracle = trajectories.get("oracle")
    gap = plugin.final_mean - oracle.final_mean if plugin and oracle else None
    header = f"{'reward':<12} {'final ' + name:>14} {'95% interval':>25} {'settled ' + format(config.threshold, 'g'):>14}"
    if gap:
        header += f" {'plugin gap closed':>18}"
    click.echo(header)
    for label, trajectory in trajectories.items():
        reached, mean_step = trajectory.threshold_summary()
        step_text = f"{reached}/{config.seeds}" + (f" @{mean_step:.0f}" if mean_step is not None else "")
        line = (f"{label:<12} {trajectory.final_mean:>14.5g} "
                f"{'[' + format(trajectory.final_low, '.4g') + ', ' + format(trajectory.final_high, '.4g') + ']':>25} "
                f"{step_text:>14}")
        if gap:
            closed = (plugin.final_mean - trajectory.final_mean) / gap
            line += f" {closed:>17.0%}"
        click.echo(line)
    window = max(1, int(round(config.final_window * config.steps)))
    click.echo(f"final = mean over the last {window} steps; 'settled' = seeds whose divergence stays at or "
               f"below the threshold from some step to the end, with the mean of that step")
    click.echo(f"results: {json_path}")


# ---- the exact diagnostic -------------------------------------------------------------


def _diagnose(family_text, K_text, answers, target_text, baseline, methods_text, tables_path, out_dir,
              no_plot, quiet):
    from alftc.cli import EXIT_INPUT
    from alftc.simulate import build_command, diagnose, parse_reward_choices, plot_diagnosis, RewardChoice

    family, Ks, q = _parse_inputs(family_text, K_text, answers, target_text)
    table = _load(tables_path)

    if methods_text is None:
        choices = [RewardChoice(method if variant == "default" else f"{method}:{variant}", method, variant)
                   for fam, method, variant in table.choices() if fam == family.name]
        choices.append(RewardChoice("oracle", "oracle"))
    else:
        choices = parse_reward_choices(methods_text)

    rows = {}
    for choice in choices:
        if choice.is_oracle:
            rows[choice.label] = None
            continue
        present = [K for K in Ks if _has_row(table, family, choice, K)]
        if not present:
            raise InputError(f"no {family.name}/{choice.method}/{choice.variant} rows for K = {K_text} in "
                             f"{table.source}; build them with '{build_command(family, choice, K_text)}'")
        estimator = table.select(family.name, choice.method, choice.variant)
        rows[choice.label] = {K: estimator.values(K) for K in present}

    result = diagnose(family, q, rows, Ks, baseline)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"diagnose-{_safe_name(family.name)}"
    document = result.to_json()
    document["tables"] = {"file": table.source, "checksum": table.checksum}
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")

    if not quiet:
        _print_diagnosis(result, json_path)
    if not no_plot:
        png_path = out / f"{stem}.png"
        if _write_plot(plot_diagnosis, result, png_path) and not quiet:
            click.echo(f"plot: {png_path}")


def _print_diagnosis(result, json_path) -> None:
    labels = list(result.norms)
    click.echo(f"{result.family.name}: norm of the exact expected update at p = q "
               f"({result.baseline} baseline, M = {result.target.size}; '-' = no row)")
    click.echo(f"{'K':>5} " + " ".join(f"{label:>12}" for label in labels))
    for index, K in enumerate(result.Ks):
        cells = []
        for label in labels:
            value = result.norms[label][index]
            cells.append(f"{'-':>12}" if value != value else f"{value:>12.4g}")
        click.echo(f"{K:>5} " + " ".join(cells))
    click.echo(f"results: {json_path}")
