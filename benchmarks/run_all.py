"""Run every benchmark and write the results page (``make bench``).

Each section comes from one script in this folder, run in a fresh
interpreter. The page names the command and the machine behind every figure.
The build timings run ``alftc build`` cold (an empty cache folder) and again
from the cache, with ``--jobs`` set to the machine's CPU count.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    """Describe this machine: CPU model, core count, Python and numpy versions."""
    import numpy

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}")


def run_script(arguments: list[str]) -> str:
    """Run a benchmark script and return its Markdown output, without its own top heading."""
    result = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = result.stdout.strip().splitlines()
    while lines and (lines[0].startswith("# ") or lines[0].startswith("## ") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def time_build(arguments: list[str], compare_with: Path | None = None) -> tuple[float, float, bool | None]:
    """Time an ``alftc build`` cold and then from the cache.

    Returns both times in seconds, and whether the JSON and HDF5 files equal
    those in ``compare_with`` byte for byte (None when there is nothing to compare).
    """
    alftc = [sys.executable, "-m", "alftc", "build", "-q", "--fresh", "--jobs", str(os.cpu_count() or 1)]
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, ALFTC_CACHE_DIR=str(Path(folder) / "cache"))
        out = Path(folder) / "out"
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run(alftc + arguments + ["--out", str(out)], cwd=ROOT, env=env, check=True)
            seconds.append(time.perf_counter() - start)
        identical = None
        if compare_with is not None:
            identical = all(
                (out / name).read_bytes() == (compare_with / name).read_bytes()
                for name in ("alftc-tables.json", "alftc-tables.h5")
            )
    return seconds[0], seconds[1], identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="page to write")
    options = parser.parse_args()

    sections = []
    builds = [
        ("kl remez, K = 4..64", ["--K", "4..64", "--family", "kl", "--method", "remez"], None),
        ("kl aqp default, K = 4..64", ["--K", "4..64", "--family", "kl", "--method", "aqp"], None),
        ("default table set, K = 4..64", ["--K", "4..64"], ROOT / "tables"),
    ]
    lines = ["| build | cold (s) | from cache (s) | command |", "|---|---:|---:|---|"]
    notes = []
    for label, arguments, compare_with in builds:
        cold, cached, identical = time_build(arguments, compare_with)
        command = "alftc build " + " ".join(arguments) + f" --jobs {os.cpu_count()}"
        lines.append(f"| {label} | {cold:.1f} | {cached:.1f} | `{command}` |")
        if identical is not None:
            verdict = "byte-identical to" if identical else "DIFFERENT from"
            notes.append(
                f"The cold default build (SOURCE_DATE_EPOCH={os.environ.get('SOURCE_DATE_EPOCH')}) "
                f"is {verdict} the shipped tables/alftc-tables.json and .h5."
            )
    body = "\n".join(lines)
    if notes:
        body += "\n\n" + "\n".join(notes)
    sections.append(("Table builds", body))

    sections.append(("Remez exchange per K", run_script(["benchmarks/bench_remez.py", "--K", "16,32,64,128"])))
    if (HERE / "bench_aqp.py").exists():
        sections.append(("AQP per K", run_script(["benchmarks/bench_aqp.py"])))
    sections.append(("Runtime", run_script(["benchmarks/bench_runtime.py"])))

    page = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python benchmarks/run_all.py`) on {time.strftime('%Y-%m-%d')}.",
        f"Machine: {machine()}.",
        "Timings on a shared machine vary by 10-20 % between runs.",
    ]
    for title, body in sections:
        page += ["", f"## {title}", "", body]
    options.out.write_text("\n".join(page) + "\n", encoding="utf-8")
    print(f"wrote {options.out}")


if __name__ == "__main__":
    main()
