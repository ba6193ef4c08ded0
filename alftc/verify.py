"""Independent re-derivation of every row of a table file.

verify never trusts the numbers a build recorded. Per file it checks the
schema, the checksum and finite values. Per row it

- recomputes the sup bias and sup variance with the ``scan`` extremum search
  (the build records the ``critical`` one) and compares them with the record;
- proves exact rows unbiased in rational arithmetic, by evaluating B_r and R at
  K distinct rational points (the build used a monomial conversion instead);
- simulates groups of K answers with a seeded generator, counts them, looks the
  rewards up, and checks that the mean reward of a tagged sample is within 5
  standard errors of B_r(p) at several p, which catches an offset between c
  and N = c - 1;
- runs the checks of its method (see :mod:`alftc.checks`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from alftc.bernstein import exact_bernstein, mp_bernstein
from alftc.errors import TableFileError
from alftc.families import parse_family
from alftc.measure import bias_sup, measure_dps, rounding_bias, variance_sup
from alftc.rows import MIN_DIGITS, Row
from alftc.runtime.format import TableFormatError, read_document

__all__ = ["Check", "Report", "verify_file", "verify_rows", "RECORD_TOLERANCE"]

# Relative agreement required between a recorded sup and its recomputation.
RECORD_TOLERANCE = mpmath.mpf("1e-20")

_MONTE_CARLO_P = (0.03, 0.2, 0.5, 0.85)
_MONTE_CARLO_GROUPS = 20_000
_MONTE_CARLO_SIGMAS = 5.0


@dataclass(frozen=True)
class Check:
    """The outcome of one check on one file or row."""

    subject: str
    name: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "check": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Report:
    """All checks of a verify run; ``ok`` is true when every check passed."""

    checks: list[Check] = field(default_factory=list)

    def add(self, subject: str, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append(Check(subject, name, bool(passed), detail))

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": len(self.checks),
            "failures": len(self.failures),
            "results": [check.to_json() for check in self.checks],
        }


def _load_schema() -> dict[str, Any]:
    text = resources.files("alftc").joinpath("schema/table.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def verify_file(
    path: str | Path,
    report: Report | None = None,
    *,
    monte_carlo: bool = True,
    progress=None,
    row_checks: bool = True,
    jobs: int = 1,
) -> Report:
    """Verify one table file (JSON or HDF5) and return the report.

    With ``row_checks=False`` only the file-level checks run (readable, schema,
    checksum, encoding). The CLI uses this for the second of two twin files
    whose decoded documents are identical.
    """
    import jsonschema

    report = report if report is not None else Report()
    path = Path(path)
    subject = str(path)
    try:
        doc = read_document(path, check=False)
    except TableFormatError as error:
        report.add(subject, "readable", False, str(error))
        return report
    report.add(subject, "readable", True)

    try:
        jsonschema.validate(doc, _load_schema())
        report.add(subject, "schema", True, "table.schema.json")
    except jsonschema.ValidationError as error:
        location = "/".join(str(part) for part in error.absolute_path)
        report.add(subject, "schema", False, f"at /{location}: {error.message}")
        return report

    from alftc.runtime.format import check_document

    try:
        check_document(doc, path)
        report.add(subject, "checksum", True, doc["checksum"]["value"][:16] + "...")
    except TableFormatError as error:
        report.add(subject, "checksum", False, str(error))
        return report

    from alftc.runtime import TableFile

    rows = [Row.from_json(obj) for obj in doc["rows"]]
    for index, row in enumerate(rows):
        _check_row_encoding(doc["rows"][index], row, report)
    if not row_checks:
        return report
    table = TableFile(doc, source=subject, _checked=True)
    verify_rows(rows, report, monte_carlo=monte_carlo, progress=progress, table=table, jobs=jobs)
    return report


def _check_row_encoding(obj: dict[str, Any], row: Row, report: Report) -> None:
    floats = obj["values"]
    finite = all(isinstance(x, (int, float)) and math.isfinite(x) for x in floats)
    report.add(row.key, "finite values", finite and len(floats) == row.K)
    matches = all(float(text) == value for text, value in zip(row.values_decimal, floats))
    report.add(row.key, "float64 equals decimal", matches, "" if matches else "values differ from values_decimal")
    short = [text for text in row.values_decimal if text != "0" and _significant_digits(text) < MIN_DIGITS]
    report.add(row.key, f"decimals carry {MIN_DIGITS} digits", not short, f"short: {short[:2]}" if short else "")


def _significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def verify_rows(
    rows: list[Row], report: Report, *, monte_carlo: bool = True, progress=None, table=None, jobs: int = 1
) -> Report:
    """Run the row-level and method-level checks on ``rows``.

    ``table`` is the :class:`alftc.runtime.TableFile` the rows came from; when
    given, the Monte Carlo check looks rewards up through the runtime, as a
    training job would. With ``jobs > 1`` the row checks run in that many
    worker processes; the report lists them in row order either way.
    """
    from alftc import checks

    if jobs > 1 and len(rows) > 1:
        import concurrent.futures

        size = max(1, min(16, len(rows) // (4 * jobs)))
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        # The table goes to each worker once, not with every chunk.
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, initializer=_set_worker_table, initargs=(table,)
        ) as pool:
            futures = [pool.submit(_verify_chunk, chunk, monte_carlo) for chunk in chunks]
            for chunk, future in zip(chunks, futures):
                report.checks.extend(future.result())
                if progress:
                    progress(len(chunk))
    else:
        for row in rows:
            _verify_row(row, report, monte_carlo, table)
            if progress:
                progress(1)
    checks.run_method_checks(rows, report)
    return report


_worker_table = None


def _set_worker_table(table) -> None:
    global _worker_table
    _worker_table = table


def _verify_chunk(rows: list[Row], monte_carlo: bool) -> list[Check]:
    report = Report()
    for row in rows:
        _verify_row(row, report, monte_carlo, _worker_table)
    return report.checks


def _verify_row(row: Row, report: Report, monte_carlo: bool, table) -> None:
    family = parse_family(row.family)
    if family.name != row.family or family.parameter != row.beta:
        report.add(row.key, "family name", False, f"family {row.family!r} with beta {row.beta!r}")
        return

    if row.exact:
        _check_exact(row, family, report)

    dps = int(row.facts.get("measure_dps", measure_dps(row.values_decimal)))
    with mpmath.workdps(dps):
        variance = variance_sup(row.values_decimal, dps=dps, method="scan")
        if row.exact:
            residue = rounding_bias(family, row.values_decimal, dps=dps)
            report.add(
                row.key, "bias recomputed", residue <= mpmath.mpf(10) ** (-MIN_DIGITS + 2) and row.bias_decimal == "0",
                f"exact row: recorded {row.bias_decimal}, the decimals leave {mpmath.nstr(residue, 3)}",
            )
        else:
            bias = bias_sup(family, row.values_decimal, dps=dps, method="scan")
            _compare(report, row.key, "bias recomputed", bias.value, mpmath.mpf(row.bias_decimal))
        _compare(report, row.key, "variance recomputed", variance.value, mpmath.mpf(row.variance_decimal))

    if monte_carlo:
        _check_monte_carlo(row, report, table)


def _compare(report: Report, subject: str, name: str, recomputed, recorded) -> None:
    scale = max(abs(recomputed), abs(recorded))
    difference = abs(recomputed - recorded)
    passed = difference <= RECORD_TOLERANCE * scale + mpmath.mpf(10) ** (-MIN_DIGITS - 5)
    relative = difference / scale if scale else mpmath.mpf(0)
    report.add(
        subject, name, passed,
        f"recorded {mpmath.nstr(recorded, 12)}, recomputed {mpmath.nstr(recomputed, 12)}, "
        f"relative difference {mpmath.nstr(relative, 3)}",
    )


def _check_exact(row: Row, family, report: Report) -> None:
    """Prove zero bias by evaluating B_r - R exactly at K distinct rational points."""
    rationals = row.facts.get("values_rational")
    if not rationals or len(rationals) != row.K or family.polynomial_degree is None:
        report.add(row.key, "exact zero bias", False, "exact row without rational values or polynomial target")
        return
    values = [Fraction(text) for text in rationals]
    with mpmath.workdps(MIN_DIGITS + 20):
        rounded = all(
            abs(mpmath.mpf(text) - mpmath.mpf(v.numerator) / v.denominator)
            <= mpmath.mpf(10) ** (-MIN_DIGITS + 1) * max(1, abs(mpmath.mpf(text)))
            for text, v in zip(row.values_decimal, values)
        )
    report.add(row.key, "decimals round rationals", rounded)
    # B_r - R has degree at most K - 1, so zeros at K distinct points make it zero.
    points = [Fraction(j, row.K + 1) for j in range(1, row.K + 1)]
    residues = [exact_bernstein(values, p) - family.target_exact(p) for p in points]
    zero = all(residue == 0 for residue in residues)
    report.add(row.key, "exact zero bias", zero, "B_r(p) = R(p) at K rational points" if zero else "nonzero residue")


def _rewards_of_first_sample(values: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Count each group's copies of its first answer and look up r_K[c]."""
    counts = (answers == answers[:, :1]).sum(axis=1)
    return values[counts - 1]


def _check_monte_carlo(row: Row, report: Report, table) -> None:
    """Simulate groups, count answers, look rewards up, compare mean rewards with B_r(p)."""
    seed = int.from_bytes(row.key.encode("utf-8")[:8].ljust(8, b"\0"), "little") % (2**32)
    rng = np.random.default_rng(seed)
    values = np.array(row.values, dtype=float)
    estimator = table.select(row.family, row.method, row.variant) if table is not None else None
    K = row.K
    failures = []
    for p in _MONTE_CARLO_P:
        # Sample 0 carries answer 0; each other sample repeats it with probability p
        # and otherwise gets an answer of its own.
        same = rng.random((_MONTE_CARLO_GROUPS, K - 1)) < p
        others = np.where(same, 0, np.arange(1, K)[None, :])
        answers = np.concatenate([np.zeros((_MONTE_CARLO_GROUPS, 1), dtype=np.int64), others], axis=1)
        if estimator is not None:
            rewards = np.asarray(estimator.rewards_from_codes(answers))[:, 0]
        else:
            rewards = _rewards_of_first_sample(values, answers)
        mean = rewards.mean()
        error = rewards.std(ddof=1) / math.sqrt(len(rewards))
        with mpmath.workdps(int(row.facts.get("measure_dps", 50))):
            expected = float(mp_bernstein([mpmath.mpf(v) for v in row.values_decimal], p))
        allowed = _MONTE_CARLO_SIGMAS * error + 1e-12 * max(1.0, float(np.abs(values).max()))
        if abs(mean - expected) > allowed:
            failures.append(f"p={p}: mean {mean:.6g} vs B_r(p) {expected:.6g} (allowed {allowed:.2g})")
    report.add(
        row.key, "Monte Carlo mean", not failures,
        "; ".join(failures) if failures else f"{_MONTE_CARLO_GROUPS} groups at p in {list(_MONTE_CARLO_P)}",
    )
