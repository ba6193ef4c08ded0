"""The ``alftc`` command line: build, verify and show reward-estimator tables.

Exit codes
----------
0  success
1  verification failed: a table file or row failed a check
2  invalid input: a bad option value, family, method, K or budget (click usage errors too)
3  computation failed: a solver did not converge or two independent computations disagree
4  table file error: a table file is missing, truncated, corrupt or from a newer schema
130  interrupted by Ctrl-C; no table file was written or changed

``alftc verify`` reports a corrupt file as a failed check, so it exits 1 for
one, and 4 only when no table file is found at all.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from alftc import __version__
from alftc.errors import InputError, SolverError, TableFileError, VerificationError

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_INPUT = 2
EXIT_COMPUTATION = 3
EXIT_TABLE_FILE = 4
EXIT_INTERRUPTED = 130

_EPILOG = (
    "Exit codes: 0 success, 1 verification failed, 2 invalid input, "
    "3 computation failed, 4 table file missing or corrupt, 130 interrupted."
)


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alftc")
def main():
    """Compile, verify and inspect certified reward-estimator tables for
    answer-level fine-tuning (group-count rewards such as log(c/K))."""


@contextmanager
def _errors_to_exit_codes():
    """Map alftc's exceptions to a message on stderr and a documented exit code."""
    try:
        yield
    except InputError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INPUT)
    except TableFileError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_TABLE_FILE)
    except (SolverError, VerificationError) as error:
        click.echo(f"error: {error}", err=True)
        click.echo("No table file was written or changed.", err=True)
        sys.exit(EXIT_COMPUTATION)
    except KeyboardInterrupt:
        click.echo("interrupted: no table file was written or changed", err=True)
        sys.exit(EXIT_INTERRUPTED)


@contextmanager
def _progress_bar(length: int, label: str, enabled: bool):
    """Yield an ``advance(n)`` callable; draw a bar on stderr only when it is a terminal."""
    if not enabled or length == 0 or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update


def default_table_files() -> list[Path]:
    """Return the shipped table files: ./tables first, else the tables/ folder beside the package."""
    candidates = [Path.cwd() / "tables", Path(__file__).resolve().parent.parent / "tables"]
    for folder in candidates:
        files = [folder / "alftc-tables.json", folder / "alftc-tables.h5"]
        existing = [path for path in files if path.exists()]
        if existing:
            return existing
    return []


from alftc.commands.build import build  # noqa: E402
from alftc.commands.minimax import command as minimax  # noqa: E402
from alftc.commands.pareto import command as pareto  # noqa: E402
from alftc.commands.simulate import command as simulate  # noqa: E402
from alftc.commands.verify import show, verify  # noqa: E402

for _command in (build, verify, show, minimax, pareto, simulate):
    main.add_command(_command)
