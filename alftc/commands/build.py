"""``alftc build``: compile tables and write them as JSON and HDF5."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from alftc.errors import InputError

# The default table set: (method, family, method options), built when neither
# --family nor --method is given. These are the rows shipped in tables/.
DEFAULT_SET = (
    ("ustat", "beta:2", {}),
    ("ustat", "beta:3", {}),
    ("plugin", "kl", {}),
    ("plugin", "beta:2", {}),
    ("plugin", "beta:3", {}),
    ("remez", "kl", {}),
    ("aqp", "kl", {}),
    ("aqp", "kl", {"variance_budget": 1.0}),
    ("aqp", "kl", {"variance_budget": 2.0}),
    ("aqp", "beta:1.5", {}),
)

# Methods built for a --family given without --method, when they apply to it.
DEFAULT_METHODS = ("ustat", "plugin")


def _parse_K_option(ctx, param, value):
    from alftc.kspec import parse_K

    try:
        return parse_K(value)
    except InputError as error:
        raise click.BadParameter(str(error)) from None


def _parse_family_option(ctx, param, value):
    if value is None:
        return None
    from alftc.families import parse_families

    try:
        return parse_families(value)
    except InputError as error:
        raise click.BadParameter(str(error)) from None


def _parse_method_option(ctx, param, value):
    if value is None:
        return None
    from alftc.methods import METHOD_NAMES

    names = [part.strip() for part in value.split(",")]
    for name in names:
        if name not in METHOD_NAMES:
            raise click.BadParameter(f"unknown method {name!r}; available: {', '.join(METHOD_NAMES)}")
    if len(set(names)) != len(names):
        raise click.BadParameter(f"a method appears twice in {value!r}")
    return names


@click.command()
@click.option("--K", "Ks", default="4..64", show_default=True, callback=_parse_K_option,
              help="Group sizes K: a value, a range A..B, or a comma list such as 4,8,16..32.")
@click.option("--family", "families", default=None, callback=_parse_family_option,
              help="Comma list of families: kl, or beta:B with B > 0 (e.g. beta:2, beta:1.5). "
                   "Default: the shipped table set.")
@click.option("--method", "methods", default=None, callback=_parse_method_option,
              help="Comma list of methods: ustat, plugin, remez, aqp. Default: the shipped table set, "
                   "or ustat and plugin where they apply to the given --family.")
@click.option("--out", "out_dir", default="tables", show_default=True, type=click.Path(file_okay=False),
              help="Output folder; NAME.json and NAME.h5 are written there.")
@click.option("--name", default="alftc-tables", show_default=True, help="Base name of the table files.")
@click.option("--fresh", is_flag=True,
              help="Start a new table. By default new rows are merged into an existing table in --out, "
                   "replacing rows with the same family, method, variant and K.")
@click.option("--dps", type=click.IntRange(min=15), default=None,
              help="Working precision in decimal digits (default: sized to K by each method).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for independent K (default: the number of CPU cores).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Result cache folder (default: $ALFTC_CACHE_DIR or ~/.cache/alftc).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--bias-budget", type=float, default=None,
              help="AQP only: bias budget lambda, as a multiple of the minimax bias E*_K.")
@click.option("--variance-budget", type=float, default=None,
              help="AQP only: variance budget rho, as a multiple of the plug-in's worst-case variance.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def build(Ks, families, methods, out_dir, name, fresh, dps, jobs, cache_dir, no_cache,
          bias_budget, variance_budget, quiet):
    """Compile reward tables r_K[c], measure their worst-case bias and variance, and
    write them atomically to NAME.json and NAME.h5."""
    from alftc.cli import _errors_to_exit_codes

    with _errors_to_exit_codes():
        requests = _requests(Ks, families, methods, dps, jobs, cache_dir, no_cache, bias_budget, variance_budget)
        _run(requests, Ks, out_dir, name, fresh, jobs, quiet)


def _requests(Ks, families, methods, dps, jobs, cache_dir, no_cache, bias_budget, variance_budget):
    from alftc.build import BuildRequest, default_cache_dir
    from alftc.families import parse_family
    from alftc.methods import BuildOptions, get_method

    if bias_budget is not None and variance_budget is not None:
        raise InputError("--bias-budget and --variance-budget are exclusive; pass one of them")
    extra = {}
    if bias_budget is not None:
        extra["bias_budget"] = bias_budget
    if variance_budget is not None:
        extra["variance_budget"] = variance_budget
    if extra and methods != ["aqp"]:
        raise InputError("--bias-budget and --variance-budget apply to --method aqp only; add --method aqp")

    if no_cache:
        cache = None
    elif cache_dir:
        cache = Path(cache_dir)
    else:
        cache = default_cache_dir()

    if families is None and methods is None:
        combos = [(method, parse_family(family), options) for method, family, options in DEFAULT_SET]
    else:
        chosen_families = families or sorted({parse_family(f) for _, f, _ in DEFAULT_SET}, key=lambda f: f.b)
        chosen_methods = methods or list(DEFAULT_METHODS)
        combos = [(method, family, extra) for family in chosen_families for method in chosen_methods]

    requests, skipped = [], []
    for method, family, options in combos:
        module = get_method(method)
        try:
            module.check(family, max(Ks), BuildOptions(dps=dps, extra=options))
        except InputError as error:
            if len(combos) == 1:
                raise
            skipped.append((method, family, error))
            continue
        requests.append(BuildRequest(method, family, tuple(Ks), BuildOptions(dps=dps, cache_dir=cache, extra=options)))

    for method, family, error in skipped:
        click.echo(f"note: skipped {family.name}/{method}: {error}", err=True)
    if not requests:
        raise skipped[0][2]
    return requests


def _run(requests, Ks, out_dir, name, fresh, jobs, quiet):
    from alftc.build import merge_rows, read_existing, run_build
    from alftc.cli import _progress_bar
    from alftc.rows import MIN_DIGITS
    from alftc.tables import make_document, table_paths, write_tables

    json_path, hdf5_path = table_paths(out_dir, name)
    existing, builds = ([], []) if fresh else read_existing(json_path)
    jobs = jobs or os.cpu_count() or 1

    total = sum(len(request.Ks) for request in requests)
    with _progress_bar(total, "building", not quiet) as advance:
        rows = run_build(requests, jobs=jobs, progress=advance)

    record = {
        "K": list(Ks),
        "requests": [
            {"method": r.method, "family": r.family.name, "dps": r.options.dps, "options": r.options.extra}
            for r in requests
        ],
    }
    if record not in builds:
        builds.append(record)
    merged = merge_rows(existing, rows)
    dps = max([int(row.facts.get("measure_dps", 0)) for row in merged] + [MIN_DIGITS + 10])
    doc = make_document(merged, {"builds": builds}, {"dps": dps, "min_digits": MIN_DIGITS})
    write_tables(doc, json_path, hdf5_path)

    if not quiet:
        _summary(rows, json_path, hdf5_path, len(merged))


def _summary(rows, json_path, hdf5_path, total_rows):
    from collections import defaultdict

    groups = defaultdict(list)
    for row in rows:
        groups[(row.family, row.method, row.variant)].append(row)
    noun = "row" if total_rows == 1 else "rows"
    click.echo(f"wrote {total_rows} {noun} to {json_path} and {hdf5_path}")
    click.echo(f"{'family':<10} {'method':<7} {'variant':<9} {'K':>9} {'bias at max K':>14} {'max variance':>13}")
    for (family, method, variant), members in sorted(groups.items()):
        members.sort(key=lambda row: row.K)
        last_bias = float(members[-1].bias_decimal)
        worst_variance = max(float(row.variance_decimal) for row in members)
        K_range = f"{members[0].K}..{members[-1].K}"
        click.echo(f"{family:<10} {method:<7} {variant:<9} {K_range:>9} {last_bias:>14.4g} {worst_variance:>13.4g}")
        if method == "remez" and worst_variance > 100:
            click.echo(
                f"warning: {family} remez rows reach worst-case variance {worst_variance:.3g}: minimax "
                f"tables are too noisy to train with at large K; ship --method aqp rows instead",
                err=True,
            )
