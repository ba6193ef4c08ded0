"""``alftc verify`` and ``alftc show``: check and print table files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also write a machine-readable report to this file ('-' for stdout).")
@click.option("--no-monte-carlo", is_flag=True, help="Skip the seeded Monte Carlo check of each row.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for the row checks (default: the number of CPU cores).")
@click.option("--quiet", "-q", is_flag=True, help="Print failures and the summary only.")
@click.option("--verbose", "-v", is_flag=True, help="Print one line per row instead of one per row group.")
def verify(files, json_out, no_monte_carlo, jobs, quiet, verbose):
    """Re-derive every row of table FILES independently (default: the shipped tables).

    Checks the schema, checksum and finite values. Recomputes each row's sup bias and
    sup variance with an extremum search other than the build's, proves exact rows
    unbiased in rational arithmetic, runs a seeded Monte Carlo check of the mean reward,
    and runs each method's own checks. Exits 1 when any check fails."""
    from alftc.cli import EXIT_TABLE_FILE, EXIT_VERIFY_FAILED, _progress_bar, default_table_files
    from alftc.verify import Report, verify_file

    paths = [Path(f) for f in files] or default_table_files()
    if not paths:
        click.echo("error: no table files given and no shipped tables found in ./tables; "
                   "run 'alftc build' first or pass FILES", err=True)
        sys.exit(EXIT_TABLE_FILE)

    report = Report()
    to_stdout = json_out == "-"
    verified_documents = []
    for path in paths:
        document = _decoded(path)
        # Twin files that decode to one document share every row check.
        twin = document is not None and document in verified_documents
        rows = 0 if twin else len(document.get("rows", [])) if document else 0
        with _progress_bar(rows, f"verifying {path.name}", not quiet and not to_stdout) as advance:
            verify_file(path, report, monte_carlo=not no_monte_carlo, progress=advance, row_checks=not twin,
                        jobs=jobs or os.cpu_count() or 1)
        if twin:
            report.add(str(path), "rows identical to a verified twin", True, "row checks not repeated")
        elif document is not None:
            verified_documents.append(document)
    _check_twins(paths, report)

    if not to_stdout:
        _print_report(report, quiet, verbose)
    if json_out:
        text = json.dumps(report.to_json(), indent=1)
        if to_stdout:
            click.echo(text)
        else:
            Path(json_out).write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if report.ok else EXIT_VERIFY_FAILED)


def _decoded(path: Path):
    from alftc.runtime.format import TableFormatError, read_document

    try:
        return read_document(path, check=False)
    except TableFormatError:
        return None


def _check_twins(paths, report) -> None:
    """Check that a NAME.json and NAME.h5 given together carry the same checksum."""
    from alftc.runtime.format import TableFormatError, read_document

    by_stem = {}
    for path in paths:
        by_stem.setdefault((path.parent, path.stem), []).append(path)
    for (folder, stem), members in by_stem.items():
        if len(members) < 2:
            continue
        try:
            sums = {read_document(p, check=False)["checksum"]["value"] for p in members}
        except (TableFormatError, KeyError, TypeError):
            continue
        report.add(str(folder / stem), "JSON and HDF5 agree", len(sums) == 1,
                   "same checksum" if len(sums) == 1 else "the two files hold different tables")


def _print_report(report, quiet: bool, verbose: bool) -> None:
    """Print one line per file and per row group (one line per row with ``verbose``), then failures."""
    from collections import OrderedDict

    by_subject = OrderedDict()
    for check in report.checks:
        subject = check.subject if verbose else check.subject.split("/K=")[0]
        by_subject.setdefault(subject, []).append(check)
    if not quiet:
        click.echo(f"{'subject':<34} {'checks':>6}  status")
        for subject, checks in by_subject.items():
            failed = sum(not c.passed for c in checks)
            status = "ok" if not failed else f"FAILED ({failed})"
            click.echo(f"{subject:<34} {len(checks):>6}  {status}")
    for check in report.failures:
        click.echo(f"FAILED {check.subject}: {check.name}: {check.detail}")
    verdict = "verify passed" if report.ok else "verify FAILED"
    click.echo(f"{verdict}: {len(report.checks) - len(report.failures)} of {len(report.checks)} checks passed")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--family", default=None, help="Show only this family (kl, beta:B).")
@click.option("--method", default=None, help="Show only this method.")
@click.option("--variant", default=None, help="Show only this variant.")
@click.option("--K", "K", type=int, default=None, help="Show only this group size.")
@click.option("--json", "as_json", is_flag=True, help="Print the selected rows as JSON.")
def show(file, family, method, variant, K, as_json):
    """Print the rows of table FILE, optionally filtered."""
    from alftc.cli import _errors_to_exit_codes
    from alftc.errors import InputError
    from alftc.families import parse_family
    from alftc.tables import load_rows

    with _errors_to_exit_codes():
        if family is not None:
            family = parse_family(family).name
        doc, rows = load_rows(file)
        selected = [
            row for row in rows
            if (family is None or row.family == family)
            and (method is None or row.method == method)
            and (variant is None or row.variant == variant)
            and (K is None or row.K == K)
        ]
        if not selected:
            raise InputError(_no_match_message(file, rows, family, method, variant, K))
        if as_json:
            click.echo(json.dumps([row.to_json() for row in selected], indent=1))
            return
        click.echo(f"{file}: alftc {doc['alftc_version']}, schema {doc['schema_version']}, created {doc['created']}")
        for row in selected:
            click.echo(f"\n{row.key}  bias {float(row.bias_decimal):.6g}  K^2*bias "
                       f"{row.K**2 * float(row.bias_decimal):.6g}  variance {float(row.variance_decimal):.6g}"
                       f"{'  exact' if row.exact else ''}")
            for c, text in enumerate(row.values_decimal, start=1):
                click.echo(f"  r[{c:>3}] = {text}")


def _no_match_message(file, rows, family, method, variant, K) -> str:
    """Name the first filter that no row satisfies, with the values the file has."""
    if not rows:
        return f"{file} holds no rows"
    filters = [("--family", family, "family"), ("--method", method, "method"),
               ("--variant", variant, "variant"), ("--K", K, "K")]
    remaining = rows
    for option, value, attribute in filters:
        if value is None:
            continue
        matching = [row for row in remaining if getattr(row, attribute) == value]
        if not matching:
            have = sorted({getattr(row, attribute) for row in remaining})
            shown = ", ".join(str(item) for item in have)
            return f"no row in {file} has {option} {value}; the rows that pass the other filters have {shown}"
        remaining = matching
    return f"no row in {file} matches the filters"
