"""Time the Remez exchange for the kl table and print a Markdown table.

Usage::

    .venv/bin/python benchmarks/bench_remez.py [--K 16,32,64,128] [--family kl]
                                               [--chain 4:64] [--variance]

Each K is solved cold (from the default initial reference) in one process on
one core. ``--chain A:B`` also times the warm-started sequential build of
K = A..B. ``--variance`` adds a grid estimate of the weighted variance
V = sup p Var_p(r_K[N + 1]) of each row.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import mpmath

from alftc.chebyshev import chebyshev_to_bernstein
from alftc.families import parse_family
from alftc.methods import BuildOptions
from alftc.methods import remez as method


def variance_estimate(r, dps):
    """Return max over a grid of p Var_p(r[N + 1]) with N ~ Binomial(K - 1, p).

    The grid has 2000 uniform points and the 49 points 2**-12 .. 2**-60, so
    this is an estimate of the sup, not a bound.
    """
    n = len(r) - 1
    with mpmath.workdps(dps):
        grid = [mpmath.mpf(k) / 2000 for k in range(1, 2001)]
        grid += [mpmath.mpf(2) ** -k for k in range(12, 61)]
        binomials = [mpmath.binomial(n, k) for k in range(n + 1)]
        top = mpmath.mpf(0)
        for p in grid:
            weights = [binomials[k] * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
            mean = mpmath.fsum(w * v for w, v in zip(weights, r))
            second = mpmath.fsum(w * v * v for w, v in zip(weights, r))
            top = max(top, p * (second - mean**2))
        return top


def time_single(family, K, variance):
    options = BuildOptions()
    start = time.perf_counter()
    result = method.solve(family, K, options)
    seconds = time.perf_counter() - start
    row = {
        "K": K,
        "seconds": seconds,
        "iterations": result.iterations,
        "dps": result.dps,
        "upper": result.upper,
        "width": result.relative_bracket_width,
    }
    if variance:
        with mpmath.workdps(result.dps):
            r = chebyshev_to_bernstein(result.coefficients, K - 1)
        row["V"] = variance_estimate(r, result.dps + 10)
    return row


def time_chain(family, first, last):
    start = time.perf_counter()
    iterations = 0
    for draft in method.build(family, list(range(first, last + 1)), BuildOptions()):
        iterations += draft.facts["iterations"]
    return time.perf_counter() - start, iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", default="16,32,64,128", help="comma-separated group sizes")
    parser.add_argument("--family", default="kl", help="family, kl or beta:B")
    parser.add_argument("--chain", default=None, help="time the warm-started build of K = A..B")
    parser.add_argument("--variance", action="store_true", help="add a grid estimate of V")
    args = parser.parse_args(argv)
    family = parse_family(args.family)
    Ks = [int(text) for text in args.K.split(",") if text.strip()]

    print(f"Machine: {platform.machine()}, {platform.processor() or 'unknown processor'}, "
          f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
          f"mpmath {mpmath.__version__} ({mpmath.libmp.BACKEND} backend)")
    print(f"Family: {family.name}, cold start per K, one process")
    print()
    header = "| K | seconds | iterations | dps | U = sup error | K^2b U | relative width |"
    rule = "|---|---|---|---|---|---|---|"
    if args.variance:
        header += " V (grid) |"
        rule += "---|"
    print(header)
    print(rule)
    exponent = 2 * float(family.b)
    for K in Ks:
        row = time_single(family, K, args.variance)
        line = (f"| {K} | {row['seconds']:.2f} | {row['iterations']} | {row['dps']} | "
                f"{mpmath.nstr(row['upper'], 12)} | {mpmath.nstr(row['upper'] * K**exponent, 10)} | "
                f"{mpmath.nstr(row['width'], 2)} |")
        if args.variance:
            line += f" {mpmath.nstr(row['V'], 3)} |"
        print(line, flush=True)

    if args.chain:
        first, last = (int(text) for text in args.chain.split(":"))
        seconds, iterations = time_chain(family, first, last)
        print()
        print(f"Warm-started chain K = {first}..{last}: {seconds:.1f} s, {iterations} iterations in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
