"""``alftc pareto``: sweep the aqp bias budget and write the bias-variance front.

Writes ``pareto-FAMILY-K{K}.csv``, ``.json`` and ``.png`` to ``--out``. Each
point is the least-variance row at bias budget lambda E*_K, with lambda
geometric from ``--lambda-min`` up to the plug-in's bias. The plot marks the
plug-in row and the minimax (Remez) row. The PNG needs matplotlib, the
optional extra ``plot``. Exit codes are those of ``alftc`` (see ``alftc --help``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from alftc.errors import InputError

__all__ = ["command", "sweep"]


def _parse_family(ctx, param, value):
    from alftc.families import parse_family

    try:
        return parse_family(value)
    except InputError as error:
        raise click.BadParameter(str(error)) from None


def sweep(family, K: int, lambdas, progress=None, *, remez=None, plugin=None) -> dict:
    """Solve the bias-budget program at each lambda and return the front as a dict.

    ``remez`` (the :func:`alftc.aqp.minimax_bias` result) and ``plugin`` (the
    pair :func:`alftc.aqp.plugin_figures` returns) are computed here unless the
    caller already has them. Points whose solve fails carry ``status``
    ``failed`` and the error message.
    """
    import mpmath

    from alftc import aqp
    from alftc.chebyshev import chebyshev_to_bernstein
    from alftc.errors import SolverError
    from alftc.measure import measure_dps, variance_sup

    if remez is None:
        remez = aqp.minimax_bias(family, K)
    if plugin is None:
        plugin = aqp.plugin_figures(family, K)
    e_star = remez.levelled_error
    plugin_bias, plugin_variance = plugin
    with mpmath.workdps(remez.dps):
        remez_values = chebyshev_to_bernstein(remez.coefficients, K - 1)
        remez_variance = variance_sup(remez_values, dps=measure_dps(remez_values)).value

    points = []
    for lam in lambdas:
        budget = min(lam * e_star, plugin_bias)
        try:
            result = aqp.solve_bias_budget(family, K, budget, minimax_error=e_star)
        except SolverError as error:
            points.append({"lambda": lam, "budget": float(budget), "status": "failed", "error": str(error)})
        else:
            points.append({
                "lambda": lam, "budget": float(budget), "status": result.status,
                "bias": float(result.bias), "variance": float(result.variance),
                "K2_bias": float(K * K * result.bias), "solver": result.solver,
            })
        if progress:
            progress(1)
    return {
        "family": family.name, "K": K, "E_star": float(e_star),
        "plugin": {"bias": float(plugin_bias), "variance": float(plugin_variance)},
        "remez": {"bias": float(e_star), "variance": float(remez_variance)},
        "points": points,
    }


def _lambdas(family, K: int, count: int, lambda_min: float, e_star, plugin_bias) -> list[float]:
    """Return ``count`` geometric lambdas from ``lambda_min`` to the plug-in's bias over E*_K."""
    import numpy as np

    top = float(plugin_bias / e_star)
    if top <= lambda_min:
        raise InputError(
            f"--lambda-min {lambda_min:g} is at or above the plug-in's bias, {top:.4g} E*_K, "
            f"for {family.name} K = {K}; pass a smaller --lambda-min"
        )
    return [float(x) for x in np.geomspace(lambda_min, top, count)]


def _write_csv(front: dict, path: Path) -> None:
    columns = ["lambda", "budget", "status", "bias", "K2_bias", "variance"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for point in front["points"]:
            writer.writerow(point)


def _plot(front: dict, path: Path, pyplot) -> None:
    solved = [point for point in front["points"] if point["status"] == "optimal"]
    figure, axes = pyplot.subplots(figsize=(6, 4.5))
    axes.plot([p["variance"] for p in solved], [p["bias"] for p in solved], "o-", label="aqp front")
    axes.plot([front["plugin"]["variance"]], [front["plugin"]["bias"]], "s", label="plug-in R(c/K)")
    axes.plot([front["remez"]["variance"]], [front["remez"]["bias"]], "^", label="remez (minimax bias)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("worst-case weighted variance sup p Var_p")
    axes.set_ylabel("worst-case weighted bias sup |p (B_r - R)|")
    axes.set_title(f"{front['family']}, K = {front['K']}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def _import_pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise InputError(
            "the PNG plot needs matplotlib, which is not installed; install the extra with "
            "pip install 'alftc[plot]', or pass --no-plot"
        ) from None
    return pyplot


@click.command(name="pareto")
@click.option("--family", "family", default="kl", show_default=True, callback=_parse_family,
              help="Family: kl or beta:B with non-integer B.")
@click.option("--K", "K", type=click.IntRange(min=2), default=64, show_default=True, help="Group size K.")
@click.option("--points", type=click.IntRange(min=2), default=12, show_default=True,
              help="Number of bias budgets in the sweep.")
@click.option("--lambda-min", type=click.FloatRange(min=1, min_open=True), default=4.0, show_default=True,
              help="Smallest bias budget, as a multiple of the minimax bias E*_K.")
@click.option("--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Output folder for the CSV, JSON and PNG files.")
@click.option("--no-plot", is_flag=True, help="Write the CSV and JSON only (no matplotlib needed).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def command(family, K, points, lambda_min, out_dir, no_plot, quiet):
    """Sweep the aqp bias budget for one family and K, and write the
    bias-variance front with the plug-in and Remez rows marked."""
    from alftc.cli import _errors_to_exit_codes, _progress_bar

    with _errors_to_exit_codes():
        if family.polynomial_degree is not None:
            raise InputError(
                f"{family.name} has an exactly unbiased table (method ustat), so it has no "
                f"bias-variance front; pass kl or a non-integer beta:B"
            )
        from alftc import aqp

        pyplot = None if no_plot else _import_pyplot()
        remez = aqp.minimax_bias(family, K)
        plugin = aqp.plugin_figures(family, K)
        lambdas = _lambdas(family, K, points, lambda_min, remez.levelled_error, plugin[0])
        with _progress_bar(len(lambdas), "sweeping", not quiet) as advance:
            front = sweep(family, K, lambdas, progress=advance, remez=remez, plugin=plugin)

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"pareto-{family.name.replace(':', '')}-K{K}"
        _write_csv(front, out / f"{stem}.csv")
        (out / f"{stem}.json").write_text(json.dumps(front, indent=2) + "\n", encoding="utf-8")
        written = [out / f"{stem}.csv", out / f"{stem}.json"]
        if pyplot is not None:
            _plot(front, out / f"{stem}.png", pyplot)
            written.append(out / f"{stem}.png")

        if not quiet:
            failed = sum(1 for point in front["points"] if point["status"] != "optimal")
            click.echo(f"wrote {', '.join(str(path) for path in written)}")
            if failed:
                click.echo(f"warning: {failed} of {len(front['points'])} budgets failed to solve; "
                           f"see the status column", err=True)
