"""Benchmark alftc.runtime against plug-in rewards log(c/K); prints a Markdown report.

Run: ``.venv/bin/python benchmarks/bench_runtime.py [--groups N] [--list-groups N] [--repeat R]``

Cases, each the median of ``--repeat`` runs taken alternately with the baseline (ratio = alftc / plug-in, lower is faster):

(a) rewards from counts: table lookup vs ``np.log(c / K)`` on the same counts;
(b) rewards from integer answer codes (groups, K), counting included: alftc's
    grouped path vs a plain numpy plug-in that counts by broadcasting
    ``codes[:, :, None] == codes[:, None, :]``; a second row counts with
    alftc's kernel and then takes ``np.log``, which isolates the lookup;
(c) rewards from Python lists of strings (the TRL path): alftc vs a plug-in
    written with ``collections.Counter``;
(d) ``import alftc.runtime`` vs ``import numpy`` in fresh interpreters.

The table is the plug-in row itself (written in memory), so both sides
compute the same numbers; the script checks that they agree.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from alftc.runtime import TableFile, counts_from_codes
from alftc.runtime.testing import make_document, plugin_row

K = 16


def compare(ours, theirs, repeat: int) -> tuple[float, float, object, object]:
    """Time two functions alternately (so machine load hits both alike); return medians and results."""
    ours_times, theirs_times = [], []
    ours_result = theirs_result = None
    for _ in range(repeat):
        start = time.perf_counter()
        ours_result = ours()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs_result = theirs()
        theirs_times.append(time.perf_counter() - start)
    return statistics.median(ours_times), statistics.median(theirs_times), ours_result, theirs_result


def plugin_counts_broadcast(codes: np.ndarray) -> np.ndarray:
    return (codes[:, :, None] == codes[:, None, :]).sum(axis=2)


def plugin_from_strings(groups):
    rewards = []
    for group in groups:
        counts = Counter(group)
        size = len(group)
        rewards.append([math.log(counts[answer] / size) for answer in group])
    return rewards


def import_seconds(module: str, repeat: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeat):
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(output.stdout))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1_000_000, help="groups for cases (a) and (b)")
    parser.add_argument("--list-groups", type=int, default=100_000, help="groups for case (c)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the median is reported")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the answers")
    args = parser.parse_args()

    estimator = TableFile(make_document([plugin_row(K)])).select("kl", "plugin")
    rng = np.random.default_rng(args.seed)
    # Answers drawn from 6 values, so groups have repeats like real samples.
    codes = rng.integers(0, 6, size=(args.groups, K), dtype=np.int64)
    counts = counts_from_codes(codes).astype(np.int64)
    rows = []

    # (a) lookup vs log on the same counts.
    t_alftc, t_plugin, ours, theirs = compare(
        lambda: estimator.rewards_from_counts(counts, K), lambda: np.log(counts / K), args.repeat
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    rows.append(("(a) from counts", f"{args.groups:,} x {K}", t_alftc, t_plugin))

    # (b) from integer codes, counting included.
    t_alftc, t_plugin, ours, theirs = compare(
        lambda: estimator.rewards_from_codes(codes), lambda: np.log(plugin_counts_broadcast(codes) / K), args.repeat
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    rows.append(("(b) from codes, broadcast-count plug-in", f"{args.groups:,} x {K}", t_alftc, t_plugin))
    t_alftc, t_same, ours, theirs = compare(
        lambda: estimator.rewards_from_codes(codes), lambda: np.log(counts_from_codes(codes) / K), args.repeat
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    rows.append(("(b') from codes, plug-in on alftc's counting", f"{args.groups:,} x {K}", t_alftc, t_same))

    # (c) from Python lists of strings.
    vocabulary = [f"answer {i}" for i in range(6)]
    picks = rng.integers(0, 6, size=(args.list_groups, K)).tolist()
    groups = [[vocabulary[i] for i in row] for row in picks]
    t_alftc, t_plugin, ours, theirs = compare(
        lambda: estimator.rewards(groups), lambda: plugin_from_strings(groups), args.repeat
    )
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12)
    rows.append(("(c) from lists of str, Counter plug-in", f"{args.list_groups:,} x {K}", t_alftc, t_plugin))

    # (d) import time in fresh interpreters.
    t_alftc = import_seconds("alftc.runtime", args.repeat)
    t_numpy = import_seconds("numpy", args.repeat)

    print("## alftc.runtime benchmark\n")
    print(f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
          f"Python {platform.python_version()}, numpy {np.__version__}; "
          f"median of {args.repeat} alternating runs.\n")
    print("| case | size | alftc (s) | plug-in (s) | ratio alftc / plug-in |")
    print("|---|---|---:|---:|---:|")
    for name, size, ours_time, theirs_time in rows:
        print(f"| {name} | {size} | {ours_time:.4f} | {theirs_time:.4f} | {ours_time / theirs_time:.2f} |")
    print(f"| (d) import alftc.runtime vs import numpy | fresh process | {t_alftc:.4f} | "
          f"{t_numpy:.4f} | {t_alftc / t_numpy:.2f} |")


if __name__ == "__main__":
    main()
