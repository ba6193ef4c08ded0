"""Time the aqp method per K and print a Markdown table.

Usage::

    .venv/bin/python benchmarks/bench_aqp.py [--K 8,16,32,64] [--family kl]
                                             [--bias-budget L | --variance-budget R]

Each K is built cold in one process on one core: the Remez solve for E*_K, the
plug-in's figures, the refined programs and the blend. The build's own
measurement of the finished row (alftc.build.finish_row) is timed separately.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import mpmath

from alftc.build import finish_row
from alftc.families import parse_family
from alftc.methods import BuildOptions
from alftc.methods import aqp as method


def machine() -> str:
    """Return a one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", default="8,16,32,48,64", help="comma list of group sizes")
    parser.add_argument("--family", default="kl", help="kl or beta:B")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--bias-budget", type=float, help="lambda, a multiple of E*_K")
    budget.add_argument("--variance-budget", type=float, help="rho, a multiple of the plug-in's variance")
    args = parser.parse_args()

    family = parse_family(args.family)
    extra = {}
    if args.bias_budget is not None:
        extra["bias_budget"] = args.bias_budget
    if args.variance_budget is not None:
        extra["variance_budget"] = args.variance_budget
    options = BuildOptions(extra=extra)

    print(f"aqp {family.name} variant {method.variant_name(options)} on {machine()}\n")
    print("| K | method s | measure s | K^2 bias | variance | plug-in variance | solver calls |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for K in (int(text) for text in args.K.split(",")):
        start = time.perf_counter()
        (draft,) = list(method.build(family, [K], options))
        built = time.perf_counter()
        row = finish_row("aqp", family, draft)
        measured = time.perf_counter()
        bias = mpmath.mpf(row.bias_decimal)
        print(
            f"| {K} | {built - start:.2f} | {measured - built:.2f} | {float(K * K * bias):.4f} | "
            f"{float(row.variance_decimal):.5f} | {float(row.facts.get('plugin_variance', 'nan')):.5f} | "
            f"{row.facts.get('solver_calls', 0)} |"
        )


if __name__ == "__main__":
    main()
